//! The bochs display driver on QEMU's std VGA or bochs-display: EDID modes, mode set and
//! scanout, unbind while a client draws, 100 bind/unbind cycles without a leak, and the
//! figures (framebuffer vs RAM bandwidth, boot to first frame).

#![no_std]
#![no_main]

extern crate alloc;

use alloc::vec;
use alloc::vec::Vec;
use core::sync::atomic::{AtomicU64, Ordering};

use drivermodel::context::Core;
use drivermodel::{Device, IdEntry};
use kernel::arch::{self, heap, time};
use kernel::bus::pci::{self, Command, Id, PciDevice};
use kernel::drivers::bochs;
use kernel::drm::{self, Client, Error, Mode, Rect, Request};
use kernel::test::Failure;
use kernel::test::support::{Screen, bochs_display, bochs_pci_device, failure};
use kernel::{check, check_eq, fail, kernel_test, println};

kernel::test_main!();

/// Reads a 32-bit pixel of the scanout memory (BAR0), side-effect free.
fn vram_pixel(base: u64, pitch: u64, x: u64, y: u64) -> u32 {
    let address = base + y * pitch + x * 4;
    u32::from_le_bytes([
        arch::probe_read(address),
        arch::probe_read(address + 1),
        arch::probe_read(address + 2),
        arch::probe_read(address + 3),
    ])
}

fn framebuffer_base(device: &Device) -> Result<u64, Failure> {
    pci::function(device)
        .and_then(|function| function.bar(0))
        .map(|bar| bar.address)
        .ok_or_else(|| failure("no BAR0"))
}

kernel_test! {
    /// The first frame: time from the PVH entry to a mode set with a picture, and the
    /// modes the EDID gave (this runs first, so it is close to what boot would see).
    fn first_frame_and_edid_modes() {
        let device = bochs_display()?;
        let client = Client::open(&device).map_err(failure)?;
        let objects = client.resources().map_err(failure)?;
        let connector = client.connector(objects.connector).map_err(failure)?;
        drop(client);
        let mode = Mode::new(1024, 768, 60).map_err(failure)?;
        check!(
            connector.modes.iter().any(|known| known.same_timing(&mode) || (known.width(), known.height()) == (1024, 768)),
            "no 1024x768 in {:?}",
            connector.modes
        );
        check!(connector.modes.first().is_some_and(|first| first.is_preferred()), "no preferred mode first");
        let screen = Screen::show(&device, mode).map_err(failure)?;
        let micros = time::micros_since_entry();
        println!("# first frame on screen {micros} us after entry (TSC)");
        println!(
            "# {} connector modes from EDID, preferred {:?}",
            connector.modes.len(),
            connector.modes.first()
        );
        drop(screen);
    }
}

kernel_test! {
    /// Mode set and scanout: the DISPI registers hold the mode (read back through the
    /// legacy ports on std VGA) and BAR0 holds exactly the committed picture, damage
    /// updates included; disabling turns DISPI off.
    fn mode_set_and_scanout() {
        let pci_device = bochs_pci_device()?;
        let base = framebuffer_base(&pci_device)?;
        let device = bochs_display()?;
        let mode = Mode::new(800, 600, 60).map_err(failure)?;
        let screen = Screen::show(&device, mode).map_err(failure)?;
        screen.mapping.fill(Rect::sized(800, 600), 0x0020_4060).map_err(failure)?;
        screen.mapping.fill(Rect::new(0, 0, 64, 64), 0x00ff_0000).map_err(failure)?;
        screen.client.dirty_framebuffer(screen.framebuffer, &[]).map_err(failure)?;
        let pitch = 800 * 4;
        check!(
            !arch::cache::WRITE_COMBINING || arch::cache::is_write_combining(base),
            "framebuffer not write-combined"
        );
        check_eq!(vram_pixel(base, pitch, 0, 0), 0x00ff_0000);
        check_eq!(vram_pixel(base, pitch, 63, 63), 0x00ff_0000);
        check_eq!(vram_pixel(base, pitch, 64, 63), 0x0020_4060);
        check_eq!(vram_pixel(base, pitch, 799, 599), 0x0020_4060);
        // A damage update changes only the damaged area on screen.
        screen.mapping.fill(Rect::sized(800, 600), 0x0000_00ff).map_err(failure)?;
        screen
            .client
            .dirty_framebuffer(screen.framebuffer, &[Rect::new(100, 100, 10, 10)])
            .map_err(failure)?;
        check_eq!(vram_pixel(base, pitch, 105, 105), 0x0000_00ff);
        check_eq!(vram_pixel(base, pitch, 99, 105), 0x0020_4060);
        check_eq!(vram_pixel(base, pitch, 110, 105), 0x0020_4060);

        // The DISPI registers, read side-effect free through BAR2 (claimed by bochs).
        let registers = pci::function(&pci_device)
            .and_then(|function| function.bar(2))
            .map(|bar| bar.address + bochs::regs::DISPI_OFFSET)
            .ok_or_else(|| failure("no BAR2"))?;
        // `probe_read` reads bytes, and QEMU answers a byte read of a DISPI register with
        // its low byte whatever the byte lane: compare low bytes.
        let low = |index: u16| arch::probe_read(registers + u64::from(index) * 2);
        check_eq!(low(bochs::regs::index::ID), (bochs::regs::ID_MAX & 0xff) as u8);
        check_eq!(low(bochs::regs::index::XRES), (800 & 0xff) as u8);
        check_eq!(low(bochs::regs::index::YRES), (600 & 0xff) as u8);
        check_eq!(low(bochs::regs::index::BPP), 32);
        check_eq!(low(bochs::regs::index::VIRT_WIDTH), (800 & 0xff) as u8);
        check_eq!(low(bochs::regs::index::ENABLE) & 0x41, 0x41);
        // No vblank interrupt: a page flip completes with the commit (a fake vblank),
        // and vblank waits are refused.
        let objects = screen.client.resources().map_err(failure)?;
        screen
            .client
            .page_flip(objects.crtc, screen.framebuffer, 9)
            .map_err(failure)?;
        match screen.client.read_event() {
            Some(event) => {
                check_eq!(event.kind, drm::EventKind::FlipComplete);
                check_eq!(event.user_data, 9);
            }
            None => fail!("no flip event"),
        }
        check!(matches!(screen.client.request_vblank(1), Err(Error::NotSupported { .. })));
        screen
            .client
            .commit(&Request::new().set_mode(objects.crtc, None))
            .map_err(failure)?;
        check_eq!(low(bochs::regs::index::ENABLE) & 1, 0);
        drop(screen);
    }
}

kernel_test! {
    /// Unbind while a client holds buffers and keeps drawing: every draw after the
    /// unbind fails with `Unplugged`, the client releases cleanly, the heap returns to
    /// its baseline, and a rebind brings a working display back.
    fn unbind_while_client_draws() {
        let model = kernel::devices::model();
        let pci_device = bochs_pci_device()?;
        let baseline = heap::used_bytes();
        let device = bochs_display()?;
        let mode = Mode::new(640, 480, 60).map_err(failure)?;
        let screen = Screen::show(&device, mode).map_err(failure)?;
        let spare = screen.client.create_dumb(64, 64, 32).map_err(failure)?;
        drop(device);
        let (mut ok, mut failed) = (0, 0);
        for frame in 0..30_u32 {
            if frame == 15 {
                model.unbind(&pci_device).map_err(failure)?;
            }
            let rect = Rect::new((frame * 16) as i32, 0, 16, 480);
            let drawn = screen
                .mapping
                .fill(rect, 0x0001_0101 * frame)
                .and_then(|()| screen.client.dirty_framebuffer(screen.framebuffer, &[rect]));
            match drawn {
                Ok(()) if frame < 15 => ok += 1,
                Err(Error::Unplugged) if frame >= 15 => failed += 1,
                other => fail!("frame {frame}: {other:?}"),
            }
        }
        check_eq!((ok, failed), (15, 15));
        let base = framebuffer_base(&pci_device)?;
        check!(!arch::cache::is_write_combining(base), "write-combining left after unbind");
        check!(bochs::displays().is_empty());
        check!(screen.client.device().is_unplugged());
        check_eq!(screen.client.create_dumb(8, 8, 32), Err(Error::Unplugged));
        screen.client.destroy_dumb(spare.handle).map_err(failure)?;
        drop(screen);
        check_eq!(drm::counts().clients, 0);
        check_eq!(drm::counts().buffers, 0);
        check_eq!(drm::counts().devices, 0);
        model.bind(&pci_device).map_err(failure)?;
        check!(
            !arch::cache::WRITE_COMBINING || arch::cache::is_write_combining(base),
            "framebuffer not write-combined after rebind"
        );
        let again = Screen::show(&bochs_display()?, mode).map_err(failure)?;
        again.mapping.fill(Rect::sized(640, 480), 0x00ff_ffff).map_err(failure)?;
        again.client.dirty_framebuffer(again.framebuffer, &[]).map_err(failure)?;
        drop(again);
        check_eq!(heap::used_bytes(), baseline);
    }
}

kernel_test! {
    /// 100 unbind/bind cycles of the bochs driver: the heap, the driver model's counters
    /// and the display counters are the same after every cycle.
    fn bind_unbind_100_cycles_no_leak() {
        let model = kernel::devices::model();
        let pci_device = bochs_pci_device()?;
        let heap_before = heap::used_bytes();
        let counts_before = model.counts();
        for cycle in 0..100 {
            model.unbind(&pci_device).map_err(failure)?;
            check!(bochs::displays().is_empty());
            model.bind(&pci_device).map_err(failure)?;
            check_eq!(bochs::displays().len(), 1);
            if cycle % 10 == 0 {
                // Now and then with a client that sets a mode in between.
                let screen = Screen::show(&bochs_display()?, Mode::new(320, 240, 60).map_err(failure)?)
                    .map_err(failure)?;
                drop(screen);
            }
            if heap::used_bytes() != heap_before || model.counts() != counts_before {
                fail!(
                    "cycle {cycle}: heap {} (was {heap_before}), counts {:?} (were {counts_before:?})",
                    heap::used_bytes(),
                    model.counts()
                );
            }
        }
        check_eq!(drm::counts().devices, 1);
    }
}

/// Measured bandwidths in MB/s: framebuffer fill, RAM fill, framebuffer copy, RAM copy.
static FIGURES: [AtomicU64; 4] = [const { AtomicU64::new(0) }; 4];

/// A PCI driver that only measures BAR0 against RAM, bound in place of bochs through a
/// driver override.
struct Bench;

static BENCH_IDS: [IdEntry<Id, ()>; 1] = [IdEntry::new(Id::device(0x1234, 0x1111), ())];

fn megabytes_per_second(bytes: u64, cycles: u64) -> u64 {
    let micros = time::cycles_to_micros(cycles).max(1);
    bytes / micros // bytes per microsecond = MB/s
}

impl drivermodel::Driver for Bench {
    type Bus = pci::Pci;
    type IdInfo = ();
    type State = ();

    fn name(&self) -> &str {
        "display-bench"
    }

    fn id_table(&self) -> &[IdEntry<Id, ()>] {
        &BENCH_IDS
    }

    fn probe(&self, device: &Device<Core>, _: &()) -> drivermodel::Result<()> {
        let pci = PciDevice::new(device)?;
        pci.enable(Command::MEMORY)?;
        let vram = pci.claim_memory_bar(0)?;
        let vram = vram.access(device)?;
        const PIXELS: usize = 1024 * 768;
        let bytes = (PIXELS * 4) as u64;
        let source: Vec<u32> = (0..PIXELS as u32).collect();
        let mut ram = vec![0_u32; PIXELS];
        // The best of eight rounds: the least disturbed by the host (TCG shares the CPU).
        let timed = |work: &mut dyn FnMut()| {
            let mut best = u64::MAX;
            for _ in 0..8 {
                let start = time::counter();
                work();
                best = best.min(time::counter() - start);
            }
            megabytes_per_second(bytes, best)
        };
        let mut color = 0;
        let vram_fill = timed(&mut || {
            color += 1;
            let _ = vram.fill_u32(0, PIXELS as u64, color);
        });
        let ram_fill = timed(&mut || {
            color += 1;
            ram.fill(color);
            core::hint::black_box(&mut ram);
        });
        let vram_copy = timed(&mut || {
            let _ = vram.write_u32_slice(0, &source);
        });
        let ram_copy = timed(&mut || {
            ram.copy_from_slice(&source);
            core::hint::black_box(&mut ram);
        });
        for (figure, value) in FIGURES
            .iter()
            .zip([vram_fill, ram_fill, vram_copy, ram_copy])
        {
            figure.store(value, Ordering::Relaxed);
        }
        Ok(())
    }
}

kernel_test! {
    /// Full-frame (1024x768x32) fill and copy bandwidth into the framebuffer BAR versus
    /// plain RAM, measured by a bench driver bound in bochs's place (driver override),
    /// then bochs is bound again.
    fn framebuffer_vs_ram_bandwidth() {
        let model = kernel::devices::model();
        let pci_device = bochs_pci_device()?;
        let bench = model.register_driver(Bench).map_err(failure)?;
        model.unbind(&pci_device).map_err(failure)?;
        model
            .set_driver_override(&pci_device, Some("display-bench"))
            .map_err(failure)?;
        let bound = model.bind(&pci_device);
        model.unbind(&pci_device).map_err(failure)?;
        model.set_driver_override(&pci_device, None).map_err(failure)?;
        drop(bench);
        model.bind(&pci_device).map_err(failure)?;
        bound.map_err(failure)?;
        check_eq!(bochs::displays().len(), 1);
        let [vram_fill, ram_fill, vram_copy, ram_copy] =
            FIGURES.each_ref().map(|figure| figure.load(Ordering::Relaxed));
        let ratio = |vram: u64, ram: u64| (vram * 100) / ram.max(1);
        println!(
            "# fill: framebuffer {vram_fill} MB/s, RAM {ram_fill} MB/s, ratio {}.{:02}",
            ratio(vram_fill, ram_fill) / 100,
            ratio(vram_fill, ram_fill) % 100
        );
        println!(
            "# copy: framebuffer {vram_copy} MB/s, RAM {ram_copy} MB/s, ratio {}.{:02}",
            ratio(vram_copy, ram_copy) / 100,
            ratio(vram_copy, ram_copy) % 100
        );
        check!(vram_fill > 0 && ram_fill > 0 && vram_copy > 0 && ram_copy > 0);
    }
}
