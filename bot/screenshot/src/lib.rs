//! Terminal screenshots: a session's screen as a PNG picture for the phone.
//!
//! The host turns its emulator screen into a [`Snapshot`] (`walkie_session_host::from_vt100`),
//! the compact cell model of the host protocol (`walkie_host_proto::snapshot`, re-exported
//! here); a [`Renderer`] draws a
//! snapshot with an embedded font into a PNG with a title bar ([`Title`]) naming the session,
//! host and time. A snapshot from the wire is checked: a malformed one is a
//! [`SnapshotError`], never a panic. [`Snapshot::mask_secrets`] hides configured secret
//! values drawn on the screen before it is rendered or shown as text ([`Snapshot::text`]).
//!
//! ```
//! let nz = |n| std::num::NonZeroU16::new(n).unwrap();
//! let mut vt = vt100::Parser::new(nz(24), nz(80), 0);
//! vt.process(b"\x1b[31mhello\x1b[0m");
//! let snap = walkie_session_host::from_vt100(vt.screen());
//! let mut r = walkie_screenshot::Renderer::new(walkie_screenshot::PHONE_FONT_PX).unwrap();
//! let png = r.render_png(&snap, &Default::default()).unwrap();
//! assert!(png.starts_with(b"\x89PNG"));
//! ```
//!
//! Rendering a 120x40 screen takes a few milliseconds of CPU (docs/PERFORMANCE.md): callers
//! on an async runtime run it with `spawn_blocking`.
//!
//! # Layout
//! - [`theme`]: the named colour theme (Tango Dark) and the xterm 256-colour palette.
//! - `geometry`: box drawing, block elements, braille and a few symbols drawn as shapes.
//! - [`render`]: fonts, glyph cache, drawing (as indices into the colours used, a
//!   [`Picture`]) and PNG encoding.
//! - `quantise`: the PNG palette (exact up to 256 colours, else cells' colours kept and
//!   glyph edges mapped to the nearest entry).

mod geometry;
mod quantise;
pub mod render;
pub mod theme;

pub use render::{
    Image, Layout, Picture, RenderError, RenderOptions, Renderer, Title, PHONE_FONT_PX,
};
pub use theme::Theme;
pub use walkie_host_proto::snapshot::{Color, Cursor, Run, Snapshot, SnapshotError, Style};
