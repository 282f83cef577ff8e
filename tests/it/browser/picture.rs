//! A screenshot as pixels: just enough of a PNG reader for what Chromium writes (8-bit
//! RGB or RGBA, not interlaced), so a test can look at the picture itself, not only at
//! the DOM that should have produced it. The inflating is flate2's, already built for
//! the spreadsheets.

use std::io::Read;

/// One picture, top row first, left to right, as RGB (any alpha dropped).
pub struct Picture {
    pub width: usize,
    pub height: usize,
    pixels: Vec<[u8; 3]>,
}

impl Picture {
    /// Decodes `png`; anything this reader does not handle fails the test, naming it.
    pub fn decode(png: &[u8]) -> Picture {
        assert!(png.starts_with(b"\x89PNG\r\n\x1a\n"), "not a PNG");
        let be = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize;
        let (mut width, mut height, mut channels) = (0, 0, 0);
        let mut compressed = Vec::new();
        let mut at = 8;
        while at + 8 <= png.len() {
            let len = be(&png[at..]);
            let data = &png[at + 8..at + 8 + len];
            match &png[at + 4..at + 8] {
                b"IHDR" => {
                    (width, height) = (be(data), be(&data[4..]));
                    assert_eq!(data[8], 8, "8 bits a sample");
                    channels = match data[9] {
                        2 => 3,
                        6 => 4,
                        other => panic!("PNG colour type {other}"),
                    };
                    assert_eq!(data[12], 0, "not interlaced");
                }
                b"IDAT" => compressed.extend_from_slice(data),
                b"IEND" => break,
                _ => {}
            }
            at += 12 + len;
        }
        let mut raw = Vec::new();
        flate2::read::ZlibDecoder::new(compressed.as_slice())
            .read_to_end(&mut raw)
            .expect("the PNG's image data inflates");
        let stride = width * channels;
        assert_eq!(raw.len(), height * (stride + 1), "one filtered row a line");

        // Each row is filtered against the one above it (PNG's five filters).
        let mut pixels = Vec::with_capacity(width * height);
        let mut above = vec![0u8; stride];
        for row in raw.chunks_exact(stride + 1) {
            let mut line = vec![0u8; stride];
            for i in 0..stride {
                let a = if i >= channels { line[i - channels] } else { 0 };
                let b = above[i];
                let c = if i >= channels {
                    above[i - channels]
                } else {
                    0
                };
                let predicted = match row[0] {
                    0 => 0,
                    1 => a,
                    2 => b,
                    3 => ((u16::from(a) + u16::from(b)) / 2) as u8,
                    4 => paeth(a, b, c),
                    other => panic!("PNG filter {other}"),
                };
                line[i] = row[1 + i].wrapping_add(predicted);
            }
            pixels.extend(line.chunks_exact(channels).map(|p| [p[0], p[1], p[2]]));
            above = line;
        }
        Picture {
            width,
            height,
            pixels,
        }
    }

    /// The colour at column `x`, row `y`.
    pub fn at(&self, x: usize, y: usize) -> [u8; 3] {
        self.pixels[y * self.width + x]
    }

    /// Whether any pixel of columns `xs` (in any row) differs from `colour`.
    pub fn any_but(&self, xs: std::ops::Range<usize>, colour: [u8; 3]) -> bool {
        (0..self.height).any(|y| xs.clone().any(|x| self.at(x, y) != colour))
    }
}

fn paeth(a: u8, b: u8, c: u8) -> u8 {
    let p = i16::from(a) + i16::from(b) - i16::from(c);
    let (pa, pb, pc) = (
        (p - i16::from(a)).abs(),
        (p - i16::from(b)).abs(),
        (p - i16::from(c)).abs(),
    );
    if pa <= pb && pa <= pc {
        a
    } else if pb <= pc {
        b
    } else {
        c
    }
}
