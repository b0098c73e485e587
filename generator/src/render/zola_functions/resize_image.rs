//! `resize_image`: a resized copy of a site image, written into the output's
//! `processed_images/` and named by a hash of what was asked, so the same call on many pages is
//! one image made once and a changed request is a new name (a CDN may keep each forever).

use std::collections::{BTreeMap, HashMap};
use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use image::imageops::FilterType;
use image::{DynamicImage, ImageFormat};
use serde_json::json;
use sha2::{Digest, Sha256};
use tera::{Function, Result as TeraResult, Value};

use super::{OnceCache, SiteFiles, modified, optional, required};

/// The folder of the output that resized images are written to, as Zola names it.
pub(crate) const PROCESSED_IMAGES: &str = "processed_images";

/// `resize_image(path, width, height, op="fill", format="auto", quality=75)`, as Zola 0.22
/// documents it: `{url, static_path, width, height, orig_width, orig_height}`.
pub(crate) struct ResizeImage {
    files: Arc<SiteFiles>,
    base_url: String,
    made: OnceCache<Request, Result<Value, String>>,
    /// The images made so far, by output path, for the render stage to add to the site.
    pub(crate) outputs: Arc<Mutex<BTreeMap<String, Vec<u8>>>>,
}

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Request {
    source: PathBuf,
    modified: Option<SystemTime>,
    operation: Operation,
    format: String,
    quality: u8,
}

/// How the new size is found (Zola's `op`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Operation {
    /// Exactly `width` × `height`, the aspect ratio ignored.
    Scale(u32, u32),
    FitWidth(u32),
    FitHeight(u32),
    /// As large as fits in `width` × `height`, never enlarged.
    Fit(u32, u32),
    /// Covers `width` × `height`, then cropped to it around the centre.
    Fill(u32, u32),
}

impl ResizeImage {
    pub(crate) fn new(files: Arc<SiteFiles>, base_url: &str) -> Self {
        Self {
            files,
            base_url: base_url.trim_end_matches('/').to_owned(),
            made: OnceCache::default(),
            outputs: Arc::default(),
        }
    }

    fn make(&self, request: &Request) -> Result<Value, String> {
        let original = image::ImageReader::open(&request.source)
            .and_then(|reader| reader.with_guessed_format())
            .map_err(|e| format!("cannot read {}: {e}", request.source.display()))?
            .decode()
            .map_err(|e| format!("cannot decode {}: {e}", request.source.display()))?;
        let (orig_width, orig_height) = (original.width(), original.height());
        let resized = resize(&original, request.operation);
        let format = output_format(&request.format, &request.source, &resized)?;
        let bytes = encode(&resized, format, request.quality)?;
        // `photo.<16 hex>.jpg`: the shape of a fingerprinted name, so the optimise stage leaves
        // it alone and the cache rules keep it forever, as they do hashed assets.
        let stem: String = request
            .source
            .file_stem()
            .map(|stem| stem.to_string_lossy())
            .unwrap_or_default()
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() || c == '-' || c == '_' { c } else { '-' })
            .collect();
        let name = format!("{stem}.{}.{}", request_hash(request, &bytes), format.extensions_str()[0]);
        let output = format!("{PROCESSED_IMAGES}/{name}");
        self.outputs.lock().unwrap_or_else(PoisonError::into_inner).insert(output.clone(), bytes);
        Ok(json!({
            "url": format!("{}/{output}", self.base_url),
            "static_path": output,
            "width": resized.width(),
            "height": resized.height(),
            "orig_width": orig_width,
            "orig_height": orig_height,
        }))
    }
}

impl Function for ResizeImage {
    fn call(&self, args: &HashMap<String, Value>) -> TeraResult<Value> {
        let path: String = required(args, "resize_image", "path")?;
        let width: Option<u32> = optional(args, "resize_image", "width")?;
        let height: Option<u32> = optional(args, "resize_image", "height")?;
        let op: String = optional(args, "resize_image", "op")?.unwrap_or_else(|| "fill".to_owned());
        let format: String = optional(args, "resize_image", "format")?.unwrap_or_else(|| "auto".to_owned());
        let quality: u8 = optional(args, "resize_image", "quality")?.unwrap_or(75);
        if !(1..=100).contains(&quality) {
            return Err(format!("resize_image(): `quality` {quality} is not between 1 and 100").into());
        }
        let operation = operation(&op, width, height).map_err(|e| format!("resize_image(): {e}"))?;
        let source =
            self.files.find(&path).map_err(|e| format!("resize_image(): {e}"))?.ok_or_else(|| {
                format!("resize_image(): `{path}` is not in the site, its static or its content folder")
            })?;
        let request = Request { modified: modified(&source), source, operation, format, quality };
        let made = self.made.get_or_compute(request.clone(), || self.make(&request));
        made.map_err(|e| format!("resize_image(): {e}").into())
    }
}

fn operation(op: &str, width: Option<u32>, height: Option<u32>) -> Result<Operation, String> {
    let positive = |name: &str, value: Option<u32>| match value {
        Some(0) => Err(format!("`{name}` must be more than 0")),
        Some(value) => Ok(value),
        None => Err(format!("op=\"{op}\" needs `{name}`")),
    };
    Ok(match op {
        "scale" => Operation::Scale(positive("width", width)?, positive("height", height)?),
        "fit_width" => Operation::FitWidth(positive("width", width)?),
        "fit_height" => Operation::FitHeight(positive("height", height)?),
        "fit" => Operation::Fit(positive("width", width)?, positive("height", height)?),
        "fill" => Operation::Fill(positive("width", width)?, positive("height", height)?),
        other => return Err(format!("op=\"{other}\" is not scale, fit_width, fit_height, fit or fill")),
    })
}

fn resize(image: &DynamicImage, operation: Operation) -> DynamicImage {
    let filter = FilterType::Lanczos3;
    let (width, height) = (image.width(), image.height());
    match operation {
        Operation::Scale(w, h) => image.resize_exact(w, h, filter),
        Operation::FitWidth(w) => image.resize(w, u32::MAX, filter),
        Operation::FitHeight(h) => image.resize(u32::MAX, h, filter),
        Operation::Fit(w, h) if width <= w && height <= h => image.clone(),
        Operation::Fit(w, h) => image.resize(w, h, filter),
        Operation::Fill(w, h) => image.resize_to_fill(w, h, filter),
    }
}

/// Zola's `format`: `auto` keeps a JPEG, PNG or WebP original's format, and otherwise picks PNG
/// for an image with transparency and JPEG for one without.
fn output_format(asked: &str, source: &Path, image: &DynamicImage) -> Result<ImageFormat, String> {
    Ok(match asked {
        "jpg" | "jpeg" => ImageFormat::Jpeg,
        "png" => ImageFormat::Png,
        "webp" => ImageFormat::WebP,
        "auto" => match ImageFormat::from_path(source).ok() {
            Some(format @ (ImageFormat::Jpeg | ImageFormat::Png | ImageFormat::WebP)) => format,
            _ if image.color().has_alpha() => ImageFormat::Png,
            _ => ImageFormat::Jpeg,
        },
        other => return Err(format!("format=\"{other}\" is not auto, jpg, png or webp")),
    })
}

/// `quality` applies to JPEG; PNG and WebP (the encoder at hand writes lossless WebP) ignore it.
fn encode(image: &DynamicImage, format: ImageFormat, quality: u8) -> Result<Vec<u8>, String> {
    let mut bytes = Vec::new();
    let written = match format {
        ImageFormat::Jpeg => {
            // JPEG has no alpha channel.
            let rgb = DynamicImage::ImageRgb8(image.to_rgb8());
            image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, quality).encode_image(&rgb)
        }
        _ => image.write_to(&mut Cursor::new(&mut bytes), format),
    };
    written.map_err(|e| format!("cannot encode the resized image: {e}"))?;
    Ok(bytes)
}

/// The name of a resized image: what it was made from and how, so two requests never share a
/// name unless they make the same image.
fn request_hash(request: &Request, bytes: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(format!("{:?}|{}|{}|", request.operation, request.format, request.quality));
    hasher.update(bytes);
    let mut hash = hex::encode(hasher.finalize());
    hash.truncate(16);
    hash
}

#[cfg(test)]
mod tests {
    use super::*;

    fn site_with_image(width: u32, height: u32) -> (tempfile::TempDir, ResizeImage) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("static")).unwrap();
        let image = image::RgbImage::from_fn(width, height, |x, y| image::Rgb([(x % 256) as u8, (y % 256) as u8, 90]));
        image.save(dir.path().join("static/photo.png")).unwrap();
        let files = SiteFiles::new(dir.path(), &dir.path().join("content"), &[dir.path().join("static")]);
        (dir, ResizeImage::new(Arc::new(files), "https://x.org/"))
    }

    fn call(function: &ResizeImage, pairs: &[(&str, Value)]) -> TeraResult<Value> {
        function.call(&pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect())
    }

    #[test]
    fn each_operation_gives_the_size_zola_documents() {
        let (_dir, resize) = site_with_image(400, 200);
        let size = |op: &str, width: Option<u32>, height: Option<u32>| {
            let mut args = vec![("path", json!("photo.png")), ("op", json!(op))];
            args.extend(width.map(|w| ("width", json!(w))));
            args.extend(height.map(|h| ("height", json!(h))));
            let made = call(&resize, &args).unwrap();
            (made["width"].as_u64().unwrap(), made["height"].as_u64().unwrap())
        };
        assert_eq!(size("scale", Some(100), Some(100)), (100, 100));
        assert_eq!(size("fit_width", Some(100), None), (100, 50));
        assert_eq!(size("fit_height", None, Some(100)), (200, 100));
        assert_eq!(size("fit", Some(100), Some(100)), (100, 50));
        assert_eq!(size("fit", Some(800), Some(800)), (400, 200), "fit never enlarges");
        assert_eq!(size("fill", Some(100), Some(100)), (100, 100));
    }

    #[test]
    fn the_image_is_written_once_under_processed_images_with_its_url() {
        let (_dir, resize) = site_with_image(64, 64);
        let args =
            [("path", json!("photo.png")), ("width", json!(32)), ("height", json!(16)), ("format", json!("jpg"))];
        let made = call(&resize, &args).unwrap();
        assert_eq!(call(&resize, &args).unwrap(), made, "the same call, the same image");
        let output = made["static_path"].as_str().unwrap();
        assert!(output.starts_with("processed_images/photo.") && output.ends_with(".jpg"), "{output}");
        assert!(crate::optimize::fingerprint::is_fingerprinted(output), "{output}");
        assert_eq!(made["url"], format!("https://x.org/{output}"));
        assert_eq!((made["orig_width"].clone(), made["orig_height"].clone()), (json!(64), json!(64)));
        let outputs = resize.outputs.lock().unwrap();
        assert_eq!(outputs.len(), 1);
        let written = image::load_from_memory(&outputs[output]).unwrap();
        assert_eq!((written.width(), written.height()), (32, 16));
    }

    #[test]
    fn bad_requests_say_what_is_wrong() {
        let (_dir, resize) = site_with_image(8, 8);
        let error = |args: &[(&str, Value)]| call(&resize, args).unwrap_err().to_string();
        assert!(error(&[("path", json!("photo.png")), ("op", json!("fit_width"))]).contains("needs `width`"));
        assert!(
            error(&[("path", json!("photo.png")), ("width", json!(4)), ("height", json!(4)), ("op", json!("zoom"))])
                .contains("zoom")
        );
        assert!(error(&[("path", json!("none.png")), ("width", json!(4)), ("height", json!(4))]).contains("none.png"));
    }
}
