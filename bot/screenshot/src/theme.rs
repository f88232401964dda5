//! Colours: a named theme for the 16 ANSI colours and the defaults, and the fixed xterm
//! 256-colour palette above them.

use walkie_host_proto::snapshot::Color;

/// An sRGB colour.
pub type Rgb = [u8; 3];

/// The colours a screen is drawn in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Theme {
    pub name: &'static str,
    pub foreground: Rgb,
    pub background: Rgb,
    /// ANSI colours 0-7 and their bright versions 8-15.
    pub ansi: [Rgb; 16],
    pub title_foreground: Rgb,
    pub title_background: Rgb,
}

impl Theme {
    /// GNOME Terminal's "Tango Dark": the Tango palette on its dark grey background. Dark
    /// because the agents' TUIs are designed on dark terminals; Tango because its colours are
    /// distinct from each other and readable on that grey.
    pub fn tango_dark() -> Theme {
        Theme {
            name: "Tango Dark",
            foreground: [0xd3, 0xd7, 0xcf],
            background: [0x2e, 0x34, 0x36],
            ansi: [
                [0x2e, 0x34, 0x36],
                [0xcc, 0x00, 0x00],
                [0x4e, 0x9a, 0x06],
                [0xc4, 0xa0, 0x00],
                [0x34, 0x65, 0xa4],
                [0x75, 0x50, 0x7b],
                [0x06, 0x98, 0x9a],
                [0xd3, 0xd7, 0xcf],
                [0x55, 0x57, 0x53],
                [0xef, 0x29, 0x29],
                [0x8a, 0xe2, 0x34],
                [0xfc, 0xe9, 0x4f],
                [0x72, 0x9f, 0xcf],
                [0xad, 0x7f, 0xa8],
                [0x34, 0xe2, 0xe2],
                [0xee, 0xee, 0xec],
            ],
            title_foreground: [0xee, 0xee, 0xec],
            title_background: [0x1c, 0x20, 0x21],
        }
    }

    /// The RGB of a colour, `default` standing for [`Color::Default`].
    pub fn rgb(&self, color: Color, default: Rgb) -> Rgb {
        match color {
            Color::Default => default,
            Color::Indexed(i) => self.indexed(i),
            Color::Rgb(r, g, b) => [r, g, b],
        }
    }

    /// Palette entry `i`: the theme's 16, then xterm's 6x6x6 cube and 24-step grey ramp.
    pub fn indexed(&self, i: u8) -> Rgb {
        const LEVELS: [u8; 6] = [0, 95, 135, 175, 215, 255];
        match i {
            0..=15 => self.ansi[usize::from(i)],
            16..=231 => {
                let n = usize::from(i - 16);
                [LEVELS[n / 36], LEVELS[n / 6 % 6], LEVELS[n % 6]]
            }
            232..=255 => {
                let v = 8 + 10 * (i - 232);
                [v, v, v]
            }
        }
    }
}

impl Default for Theme {
    fn default() -> Self {
        Theme::tango_dark()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xterm_palette_is_exact() {
        let t = Theme::tango_dark();
        assert_eq!(t.indexed(16), [0, 0, 0]);
        assert_eq!(t.indexed(17), [0, 0, 95]);
        assert_eq!(t.indexed(21), [0, 0, 255]);
        assert_eq!(t.indexed(22), [0, 95, 0]);
        assert_eq!(t.indexed(52), [95, 0, 0]);
        assert_eq!(t.indexed(196), [255, 0, 0]);
        assert_eq!(t.indexed(145), [175, 175, 175]);
        assert_eq!(t.indexed(231), [255, 255, 255]);
        assert_eq!(t.indexed(232), [8, 8, 8]);
        assert_eq!(t.indexed(244), [128, 128, 128]);
        assert_eq!(t.indexed(255), [238, 238, 238]);
        assert_eq!(t.indexed(1), [0xcc, 0, 0]);
        assert_eq!(t.rgb(Color::Default, t.foreground), t.foreground);
        assert_eq!(t.rgb(Color::Rgb(1, 2, 3), t.foreground), [1, 2, 3]);
    }
}
