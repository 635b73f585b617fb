//! The size report of drivermodel (`cargo dm-size`): builds the bare-metal `consumer`
//! for each target and feature set at `opt-level = "s"` and prints the `.text` the crate
//! adds to the binary, against the budget. A budget that has been met is
//! enforced: the report exits with an error when the crate grows past it (so CI keeps
//! it); one not met yet prints its gap.
//!
//! "Adds" is the consumer's `.text` minus the baseline's (the same program without
//! drivermodel: entry point, allocator, panic handler). It includes the `alloc` and
//! `core` code the crate pulls in (collections, formatting), which a kernel that already
//! uses them would partly share.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use object::{Object, ObjectSection};

/// The targets measured: a 64-bit and a 32-bit bare-metal one.
const TARGETS: [&str; 2] = ["riscv64gc-unknown-none-elf", "thumbv7em-none-eabihf"];

/// A feature set of the consumer, and the `.text` budget it should stay within on
/// riscv64gc, if it has one.
struct FeatureSet {
    name: &'static str,
    features: &'static str,
    budget: Option<Budget>,
}

/// A `.text` budget in bytes. Once a budget is met it is `enforced`: the report fails
/// when the crate grows past it, so CI keeps it. A budget not met yet prints its gap.
struct Budget {
    bytes: u64,
    enforced: bool,
}

const FEATURE_SETS: [FeatureSet; 3] = [
    FeatureSet {
        name: "baseline (no drivermodel)",
        features: "",
        budget: None,
    },
    FeatureSet {
        name: "minimal",
        features: "minimal",
        budget: Some(Budget {
            bytes: 40 * 1024,
            enforced: true,
        }),
    },
    FeatureSet {
        name: "full (default features)",
        features: "full",
        budget: Some(Budget {
            bytes: 80 * 1024,
            enforced: true,
        }),
    },
];

/// Section sizes of one linked binary.
struct Sizes {
    text: u64,
    rodata: u64,
}

fn main() -> ExitCode {
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("report/ lives inside the size workspace")
        .to_path_buf();
    match run(&workspace) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("dm-size: {message}");
            ExitCode::FAILURE
        }
    }
}

fn run(workspace: &Path) -> Result<(), String> {
    let mut rows = Vec::new();
    for target in TARGETS {
        let mut baseline = None;
        for set in &FEATURE_SETS {
            let elf = build(workspace, target, set.features)?;
            let sizes = sections(&elf)?;
            let base_text = *baseline.get_or_insert(sizes.text);
            rows.push((target, set, sizes, base_text));
        }
    }
    println!();
    println!("drivermodel size report: .text of a minimal consumer binary, opt-level \"s\",");
    println!("panic = \"abort\"; \"adds\" = consumer .text - baseline .text (1 KiB = 1024 B)");
    println!();
    println!("| target | feature set | .text | .rodata | drivermodel adds | budget (riscv64gc) |");
    println!("|---|---|---|---|---|---|");
    let mut exceeded = Vec::new();
    for (target, set, sizes, base_text) in rows {
        let adds = sizes.text - base_text;
        let is_baseline = set.features.is_empty();
        let budget = match &set.budget {
            Some(budget) if target.starts_with("riscv64") => {
                let limit = budget.bytes / 1024;
                if adds <= budget.bytes {
                    format!("<= {limit} KiB: met")
                } else {
                    let gap = kib_short(adds - budget.bytes);
                    if budget.enforced {
                        exceeded.push(format!(
                            "{target} {}: {} over the {limit} KiB budget",
                            set.name, gap
                        ));
                        format!("<= {limit} KiB: EXCEEDED by {gap}")
                    } else {
                        format!("<= {limit} KiB: NOT met yet, {gap} over")
                    }
                }
            }
            _ => String::new(),
        };
        let adds = if is_baseline {
            String::from("-")
        } else {
            kib(adds)
        };
        println!(
            "| {target} | {} | {} | {} | {adds} | {budget} |",
            set.name,
            kib(sizes.text),
            kib(sizes.rodata),
        );
    }
    if exceeded.is_empty() {
        Ok(())
    } else {
        Err(format!(
            "a met budget is exceeded (enforced since it was met): {}",
            exceeded.join("; ")
        ))
    }
}

fn kib(bytes: u64) -> String {
    format!("{} ({bytes} B)", kib_short(bytes))
}

fn kib_short(bytes: u64) -> String {
    format!("{:.1} KiB", bytes as f64 / 1024.0)
}

/// Builds the consumer for `target` with `features` and returns the path of its ELF.
fn build(workspace: &Path, target: &str, features: &str) -> Result<PathBuf, String> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| String::from("cargo"));
    let mut command = Command::new(cargo);
    command
        .current_dir(workspace)
        .args(["build", "--quiet", "--release", "--package", "consumer"])
        .args(["--target", target]);
    if !features.is_empty() {
        command.args(["--features", features]);
    }
    let status = command
        .status()
        .map_err(|error| format!("cannot run cargo: {error}"))?;
    if !status.success() {
        return Err(format!(
            "building the consumer for {target} with features [{features}] failed ({status}); \
             is the target installed? (rustup target add {target})"
        ));
    }
    Ok(workspace
        .join("target")
        .join(target)
        .join("release")
        .join("consumer"))
}

/// The sizes of the `.text` and `.rodata` output sections of the ELF at `path`.
fn sections(path: &Path) -> Result<Sizes, String> {
    let data = std::fs::read(path).map_err(|error| format!("{}: {error}", path.display()))?;
    let file = object::File::parse(&*data)
        .map_err(|error| format!("{}: not an object file: {error}", path.display()))?;
    let size_of = |prefix: &str| -> u64 {
        file.sections()
            .filter(|section| {
                section
                    .name()
                    .is_ok_and(|name| name == prefix || name.starts_with(&format!("{prefix}.")))
            })
            .map(|section| section.size())
            .sum()
    };
    let text = size_of(".text");
    if text == 0 {
        return Err(format!("{}: no .text section", path.display()));
    }
    Ok(Sizes {
        text,
        rodata: size_of(".rodata"),
    })
}
