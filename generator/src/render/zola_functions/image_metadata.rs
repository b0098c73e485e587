//! `get_image_metadata`: an image's size and type, read from its header without decoding it.

use std::collections::HashMap;
use std::fs::File;
use std::io::BufReader;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::SystemTime;

use imagesize::{Compression, ImageType};
use tera::{Function, Result as TeraResult, Value};

use super::{OnceCache, SiteFiles, modified, optional, required};

/// `get_image_metadata(path, allow_missing=false)`, as Zola 0.22 documents it:
/// `{width, height, format, mime}` of the image at `path` (found by [`SiteFiles::find`]), where
/// `format` is the usual extension of the format the bytes are in (`jpg` for a JPEG named
/// `.jpeg`). JPEG, PNG, GIF, WebP, BMP, AVIF, HEIC, ICO, TIFF and JPEG XL are read by their
/// header, SVG by the `width`/`height` of its root element or else its `viewBox`. With
/// `allow_missing=true` a missing file gives null instead of an error.
pub(crate) struct GetImageMetadata {
    files: Arc<SiteFiles>,
    cache: OnceCache<(PathBuf, Option<SystemTime>), Result<Value, String>>,
}

impl GetImageMetadata {
    pub(crate) fn new(files: Arc<SiteFiles>) -> Self {
        Self { files, cache: OnceCache::default() }
    }
}

impl Function for GetImageMetadata {
    fn call(&self, args: &HashMap<String, Value>) -> TeraResult<Value> {
        let requested: String = required(args, "get_image_metadata", "path")?;
        let allow_missing: bool = optional(args, "get_image_metadata", "allow_missing")?.unwrap_or(false);
        let found = self.files.find(&requested).map_err(|e| format!("get_image_metadata(): {e}"))?;
        let Some(path) = found else {
            if allow_missing {
                return Ok(Value::Null);
            }
            return Err(format!(
                "get_image_metadata(): `{requested}` is not in the site, its static or its content folder"
            )
            .into());
        };
        let key = (path.clone(), modified(&path));
        let metadata = self.cache.get_or_compute(key, || metadata_of(&path));
        metadata.map_err(|e| format!("get_image_metadata(): {}: {e}", path.display()).into())
    }
}

fn metadata_of(path: &Path) -> Result<Value, String> {
    let is_svg = path.extension().is_some_and(|e| e.eq_ignore_ascii_case("svg"));
    let (width, height, format, mime) = if is_svg {
        let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read: {e}"))?;
        let (width, height) = svg_size(&text)?;
        (width, height, "svg", "image/svg+xml")
    } else {
        let open = || File::open(path).map(BufReader::new).map_err(|e| format!("cannot read: {e}"));
        let kind = imagesize::reader_type(open()?).map_err(|e| format!("not an image Pledge can read: {e}"))?;
        let (format, mime) = format_and_mime(kind).ok_or("not an image format Pledge reads")?;
        let size = imagesize::reader_size(open()?).map_err(|e| format!("cannot read the image's size: {e}"))?;
        (size.width as u64, size.height as u64, format, mime)
    };
    Ok(serde_json::json!({ "width": width, "height": height, "format": format, "mime": mime }))
}

fn format_and_mime(kind: ImageType) -> Option<(&'static str, &'static str)> {
    Some(match kind {
        ImageType::Jpeg => ("jpg", "image/jpeg"),
        ImageType::Png => ("png", "image/png"),
        ImageType::Gif => ("gif", "image/gif"),
        ImageType::Webp => ("webp", "image/webp"),
        ImageType::Bmp => ("bmp", "image/bmp"),
        ImageType::Heif(Compression::Av1) => ("avif", "image/avif"),
        ImageType::Heif(_) => ("heic", "image/heic"),
        ImageType::Ico => ("ico", "image/x-icon"),
        ImageType::Tiff => ("tiff", "image/tiff"),
        ImageType::Jxl => ("jxl", "image/jxl"),
        _ => return None,
    })
}

/// The pixel size an SVG declares: `width` and `height` on its root element when they are plain
/// numbers or `px`, else the size of its `viewBox`.
fn svg_size(text: &str) -> Result<(u64, u64), String> {
    use quick_xml::events::Event;

    let mut reader = quick_xml::Reader::from_str(text);
    let root = loop {
        match reader.read_event().map_err(|e| format!("invalid SVG: {e}"))? {
            Event::Start(e) | Event::Empty(e) => break e,
            Event::Eof => return Err("invalid SVG: no root element".into()),
            _ => {}
        }
    };
    if root.local_name().as_ref() != b"svg" {
        return Err("invalid SVG: the root element is not <svg>".into());
    }
    let (mut width, mut height, mut view_box) = (None, None, None);
    for attribute in root.attributes().flatten() {
        let value = attribute.decode_and_unescape_value(reader.decoder()).map_err(|e| e.to_string())?;
        match attribute.key.as_ref() {
            b"width" => width = pixels(&value),
            b"height" => height = pixels(&value),
            b"viewBox" => view_box = view_box_size(&value),
            _ => {}
        }
    }
    let (width, height) = match (width, height, view_box) {
        (Some(w), Some(h), _) => (w, h),
        (w, h, Some((box_w, box_h))) => (w.unwrap_or(box_w), h.unwrap_or(box_h)),
        _ => return Err("the SVG has neither a width and height in pixels nor a viewBox".into()),
    };
    Ok((width.round() as u64, height.round() as u64))
}

fn pixels(length: &str) -> Option<f64> {
    let length = length.trim();
    let number = length.strip_suffix("px").unwrap_or(length).trim();
    number.parse::<f64>().ok().filter(|n| n.is_finite() && *n >= 0.0)
}

fn view_box_size(view_box: &str) -> Option<(f64, f64)> {
    let numbers: Vec<f64> = view_box
        .split(|c: char| c.is_whitespace() || c == ',')
        .filter(|s| !s.is_empty())
        .map(str::parse)
        .collect::<Result<_, _>>()
        .ok()?;
    match numbers[..] {
        [_, _, w, h] if w >= 0.0 && h >= 0.0 => Some((w, h)),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// A PNG's signature and IHDR chunk: all a reader of its size needs.
    fn png(width: u32, height: u32) -> Vec<u8> {
        let mut bytes = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
        bytes.extend(width.to_be_bytes());
        bytes.extend(height.to_be_bytes());
        bytes.extend([8, 6, 0, 0, 0]); // bit depth, colour type, compression, filter, interlace
        bytes.extend([0; 4]); // CRC, which size readers do not check
        bytes
    }

    /// A JPEG's start, an APP0 segment, and a baseline frame header giving its size.
    fn jpeg(width: u16, height: u16) -> Vec<u8> {
        let mut bytes = vec![0xFF, 0xD8, 0xFF, 0xE0, 0x00, 0x10];
        bytes.extend(b"JFIF\0\x01\x01\0\0\x01\0\x01\0\0");
        bytes.extend([0xFF, 0xC0, 0x00, 0x11, 0x08]);
        bytes.extend(height.to_be_bytes());
        bytes.extend(width.to_be_bytes());
        bytes.extend([0x03, 0x01, 0x22, 0x00, 0x02, 0x11, 0x01, 0x03, 0x11, 0x01]);
        bytes.extend([0xFF, 0xD9]);
        bytes
    }

    fn site(files: &[(&str, &[u8])]) -> (tempfile::TempDir, GetImageMetadata) {
        let dir = tempfile::tempdir().unwrap();
        for (name, bytes) in files {
            let path = dir.path().join("static").join(name);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, bytes).unwrap();
        }
        let files = SiteFiles::new(dir.path(), &dir.path().join("content"), &[dir.path().join("static")]);
        (dir, GetImageMetadata::new(Arc::new(files)))
    }

    fn metadata(function: &GetImageMetadata, pairs: &[(&str, Value)]) -> TeraResult<Value> {
        function.call(&pairs.iter().map(|(k, v)| (k.to_string(), v.clone())).collect())
    }

    #[test]
    fn png_and_jpeg_sizes_come_from_their_headers() {
        let (_dir, f) = site(&[("img/a.png", &png(640, 480)), ("img/b.jpeg", &jpeg(300, 200))]);
        assert_eq!(
            metadata(&f, &[("path", json!("img/a.png"))]).unwrap(),
            json!({"width": 640, "height": 480, "format": "png", "mime": "image/png"})
        );
        assert_eq!(
            metadata(&f, &[("path", json!("/img/b.jpeg"))]).unwrap(),
            json!({"width": 300, "height": 200, "format": "jpg", "mime": "image/jpeg"})
        );
    }

    #[test]
    fn the_bytes_decide_the_format_not_the_name() {
        let (_dir, f) = site(&[("looks.jpg", &png(2, 3))]);
        assert_eq!(metadata(&f, &[("path", json!("looks.jpg"))]).unwrap()["format"], "png");
    }

    #[test]
    fn svg_sizes_come_from_width_and_height_or_the_view_box() {
        let (_dir, f) = site(&[
            (
                "a.svg",
                br#"<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg" width="120px" height="80"></svg>"#,
            ),
            ("b.svg", br#"<svg viewBox="0 0 24.4 12" width="100%"/>"#),
            ("c.svg", b"<svg/>"),
        ]);
        assert_eq!(
            metadata(&f, &[("path", json!("a.svg"))]).unwrap(),
            json!({"width": 120, "height": 80, "format": "svg", "mime": "image/svg+xml"})
        );
        let b = metadata(&f, &[("path", json!("b.svg"))]).unwrap();
        assert_eq!((b["width"].clone(), b["height"].clone()), (json!(24), json!(12)));
        assert!(metadata(&f, &[("path", json!("c.svg"))]).unwrap_err().to_string().contains("viewBox"));
    }

    #[test]
    fn a_missing_image_is_an_error_unless_allowed_and_other_bytes_are_refused() {
        let (_dir, f) = site(&[("notes.txt", b"just some text here")]);
        let error = metadata(&f, &[("path", json!("gone.png"))]).unwrap_err().to_string();
        assert!(error.contains("gone.png"), "{error}");
        assert_eq!(metadata(&f, &[("path", json!("gone.png")), ("allow_missing", json!(true))]).unwrap(), Value::Null);
        assert!(metadata(&f, &[("path", json!("notes.txt"))]).unwrap_err().to_string().contains("not an image"));
        assert!(metadata(&f, &[]).unwrap_err().to_string().contains("`path`"));
    }
}
