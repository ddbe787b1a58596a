//! Pictures for the demo store's products, drawn in code: a product's
//! silhouette in its colour on a soft studio background with a shadow, as
//! a square PNG. No image files ship with Mercato and nothing is fetched:
//! `mercato up` draws them when it seeds the demo store.

/// Side of a picture, in pixels.
pub const SIDE: u32 = 640;

type Rgb = [u8; 3];

/// What a picture shows.
#[derive(Debug, Clone, Copy)]
pub enum Shape {
    Tee,
    Tote,
    Mug,
    Stickers,
    Cap,
    Bottle,
    Notebook,
    Candle,
}

struct Canvas {
    px: Vec<Rgb>,
}

impl Canvas {
    fn new(top: Rgb, bottom: Rgb) -> Self {
        let mut px = Vec::with_capacity((SIDE * SIDE) as usize);
        for y in 0..SIDE {
            let t = y as f32 / SIDE as f32;
            let c = mix(top, bottom, t);
            for _ in 0..SIDE {
                px.push(c);
            }
        }
        Self { px }
    }

    /// Paints every pixel whose centre `inside` says is in, blended by
    /// `alpha`, with 2x2 supersampling on the edges.
    fn fill(&mut self, colour: Rgb, alpha: f32, inside: impl Fn(f32, f32) -> bool) {
        for y in 0..SIDE {
            for x in 0..SIDE {
                let (fx, fy) = (x as f32, y as f32);
                let hits = [(0.25, 0.25), (0.75, 0.25), (0.25, 0.75), (0.75, 0.75)]
                    .iter()
                    .filter(|(dx, dy)| inside((fx + dx) / SIDE as f32, (fy + dy) / SIDE as f32))
                    .count();
                if hits > 0 {
                    let a = alpha * hits as f32 / 4.0;
                    let i = (y * SIDE + x) as usize;
                    self.px[i] = mix(self.px[i], colour, a);
                }
            }
        }
    }

    fn png(&self) -> Vec<u8> {
        let mut out = Vec::new();
        {
            let mut encoder = png::Encoder::new(&mut out, SIDE, SIDE);
            encoder.set_color(png::ColorType::Rgb);
            encoder.set_depth(png::BitDepth::Eight);
            encoder.set_compression(png::Compression::Best);
            let flat: Vec<u8> = self.px.iter().flatten().copied().collect();
            // Writing to a Vec cannot fail; an encoder error would be a bug.
            if let Ok(mut writer) = encoder.write_header() {
                let _ = writer.write_image_data(&flat);
            }
        }
        out
    }
}

fn mix(a: Rgb, b: Rgb, t: f32) -> Rgb {
    let t = t.clamp(0.0, 1.0);
    [0, 1, 2].map(|i| (a[i] as f32 + (b[i] as f32 - a[i] as f32) * t).round() as u8)
}

fn darker(c: Rgb, by: f32) -> Rgb {
    mix(c, [0, 0, 0], by)
}

fn lighter(c: Rgb, by: f32) -> Rgb {
    mix(c, [255, 255, 255], by)
}

fn ellipse(cx: f32, cy: f32, rx: f32, ry: f32) -> impl Fn(f32, f32) -> bool {
    move |x, y| ((x - cx) / rx).powi(2) + ((y - cy) / ry).powi(2) <= 1.0
}

fn rect(x0: f32, y0: f32, x1: f32, y1: f32, r: f32) -> impl Fn(f32, f32) -> bool {
    move |x, y| {
        if x < x0 || x > x1 || y < y0 || y > y1 {
            return false;
        }
        let cx = x.clamp(x0 + r, x1 - r);
        let cy = y.clamp(y0 + r, y1 - r);
        (x - cx).powi(2) + (y - cy).powi(2) <= r * r
    }
}

/// A polygon (even-odd rule).
fn polygon(points: &'static [(f32, f32)]) -> impl Fn(f32, f32) -> bool {
    move |x, y| {
        let mut inside = false;
        let mut j = points.len() - 1;
        for i in 0..points.len() {
            let (xi, yi) = points[i];
            let (xj, yj) = points[j];
            if (yi > y) != (yj > y) && x < (xj - xi) * (y - yi) / (yj - yi) + xi {
                inside = !inside;
            }
            j = i;
        }
        inside
    }
}

fn ring(cx: f32, cy: f32, r_out: f32, r_in: f32) -> impl Fn(f32, f32) -> bool {
    move |x, y| {
        let d = ((x - cx).powi(2) + (y - cy).powi(2)).sqrt();
        d <= r_out && d >= r_in
    }
}

/// A picture of `shape` in `colour`, as PNG bytes.
pub fn picture(shape: Shape, colour: Rgb, background: Rgb) -> Vec<u8> {
    let mut c = Canvas::new(lighter(background, 0.35), background);
    // The floor's shadow.
    c.fill([0, 0, 0], 0.10, ellipse(0.5, 0.86, 0.30, 0.04));
    let shade = darker(colour, 0.18);
    match shape {
        Shape::Tee => {
            const TEE: &[(f32, f32)] = &[
                (0.36, 0.20),
                (0.44, 0.17),
                (0.50, 0.22),
                (0.56, 0.17),
                (0.64, 0.20),
                (0.82, 0.33),
                (0.74, 0.44),
                (0.67, 0.39),
                (0.67, 0.84),
                (0.33, 0.84),
                (0.33, 0.39),
                (0.26, 0.44),
                (0.18, 0.33),
            ];
            c.fill(colour, 1.0, polygon(TEE));
            c.fill(shade, 1.0, ellipse(0.5, 0.205, 0.06, 0.035));
            c.fill(
                lighter(colour, 0.12),
                0.6,
                rect(0.36, 0.42, 0.64, 0.46, 0.01),
            );
        }
        Shape::Tote => {
            c.fill(shade, 1.0, ring(0.5, 0.36, 0.13, 0.105));
            c.fill(background, 1.0, rect(0.30, 0.36, 0.70, 0.40, 0.0));
            c.fill(colour, 1.0, rect(0.28, 0.38, 0.72, 0.84, 0.02));
            c.fill(shade, 0.5, rect(0.28, 0.38, 0.72, 0.42, 0.0));
            c.fill(lighter(colour, 0.5), 1.0, ellipse(0.5, 0.62, 0.09, 0.09));
        }
        Shape::Mug => {
            c.fill(shade, 1.0, ring(0.70, 0.56, 0.12, 0.075));
            c.fill(colour, 1.0, rect(0.30, 0.34, 0.68, 0.84, 0.04));
            c.fill(
                lighter(colour, 0.25),
                1.0,
                ellipse(0.49, 0.345, 0.19, 0.035),
            );
            c.fill(darker(colour, 0.45), 1.0, ellipse(0.49, 0.35, 0.16, 0.022));
        }
        Shape::Stickers => {
            c.fill(colour, 1.0, ellipse(0.38, 0.45, 0.15, 0.15));
            c.fill([255, 255, 255], 1.0, ellipse(0.38, 0.45, 0.08, 0.08));
            c.fill(
                lighter(colour, 0.4),
                1.0,
                rect(0.48, 0.50, 0.74, 0.76, 0.05),
            );
            c.fill(darker(colour, 0.3), 1.0, ellipse(0.66, 0.34, 0.10, 0.10));
            c.fill([255, 255, 255], 1.0, rect(0.55, 0.58, 0.67, 0.68, 0.02));
        }
        Shape::Cap => {
            c.fill(colour, 1.0, move |x, y| {
                ellipse(0.5, 0.80, 0.22, 0.26)(x, y) && y <= 0.80
            });
            c.fill(shade, 1.0, ellipse(0.62, 0.81, 0.22, 0.045));
            c.fill(darker(colour, 0.3), 1.0, ellipse(0.5, 0.545, 0.025, 0.02));
            c.fill(lighter(colour, 0.2), 0.8, rect(0.49, 0.56, 0.51, 0.78, 0.0));
        }
        Shape::Bottle => {
            c.fill(colour, 1.0, rect(0.40, 0.30, 0.60, 0.84, 0.06));
            c.fill(shade, 1.0, rect(0.44, 0.20, 0.56, 0.31, 0.02));
            c.fill(lighter(colour, 0.6), 1.0, rect(0.40, 0.50, 0.60, 0.64, 0.0));
            c.fill([255, 255, 255], 0.25, rect(0.43, 0.33, 0.46, 0.80, 0.015));
        }
        Shape::Notebook => {
            c.fill(
                darker(colour, 0.35),
                1.0,
                rect(0.32, 0.24, 0.70, 0.84, 0.02),
            );
            c.fill(colour, 1.0, rect(0.30, 0.22, 0.68, 0.82, 0.02));
            c.fill(shade, 1.0, rect(0.60, 0.22, 0.62, 0.82, 0.0));
            c.fill([255, 255, 255], 0.85, rect(0.37, 0.36, 0.55, 0.44, 0.01));
        }
        Shape::Candle => {
            c.fill(colour, 1.0, rect(0.36, 0.42, 0.64, 0.84, 0.03));
            c.fill(lighter(colour, 0.3), 1.0, ellipse(0.5, 0.425, 0.14, 0.03));
            c.fill([60, 50, 40], 1.0, rect(0.495, 0.33, 0.505, 0.41, 0.0));
            c.fill([250, 190, 60], 1.0, ellipse(0.5, 0.30, 0.025, 0.05));
            c.fill([255, 240, 180], 1.0, ellipse(0.5, 0.31, 0.012, 0.025));
        }
    }
    c.png()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pictures_are_small_square_pngs() {
        for shape in [
            Shape::Tee,
            Shape::Tote,
            Shape::Mug,
            Shape::Stickers,
            Shape::Cap,
            Shape::Bottle,
            Shape::Notebook,
            Shape::Candle,
        ] {
            let png = picture(shape, [40, 90, 160], [236, 230, 220]);
            assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n", "{shape:?}");
            assert!(png.len() < 200_000, "{shape:?}: {} bytes", png.len());
            // To look at them: DEMO_ART_DIR=/tmp/art cargo test -p mercato-devstack demo_art
            if let Ok(dir) = std::env::var("DEMO_ART_DIR") {
                let _ = std::fs::create_dir_all(&dir);
                let _ = std::fs::write(format!("{dir}/{shape:?}.png"), &png);
            }
        }
    }
}
