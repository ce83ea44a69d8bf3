//! MIME sniffing: the media type of a file from its first bytes, with its name's extension as
//! a fallback and as a refinement of generic containers (zip → docx, text → csv).
//!
//! Owns the magic-byte table and the extension table. Content always wins over the extension
//! when they disagree — a client cannot turn a text file into `image/jpeg` by naming it `.jpg` —
//! except where the content only names a generic family the extension narrows down. Knows
//! nothing of HTTP or of how the type is stored or served.

/// Media type of a file whose first bytes are `head` (the first
/// [`super::PROBE_PREFIX_BYTES`] are plenty) and whose name ends in `extension` (with or without
/// the leading dot, any case; `""` when there is none).
///
/// The content decides first. When it only says "zip", "text", "OLE compound file", "Ogg",
/// "Matroska" or "ISO media", an extension whose type belongs to that family is preferred
/// (`.docx` on zip content, `.csv` on text). When the content says nothing, the extension
/// table decides; otherwise `application/octet-stream`.
pub fn sniff_mime(head: &[u8], extension: &str) -> &'static str {
    let by_extension = mime_for_extension(extension);
    match sniff_content(head) {
        Some(content) => match by_extension {
            Some(ext) if refines(content, ext) => ext,
            _ => content,
        },
        None => by_extension.unwrap_or(OCTET_STREAM),
    }
}

const OCTET_STREAM: &str = "application/octet-stream";
const TEXT: &str = "text/plain";
const ZIP: &str = "application/zip";
const OLE: &str = "application/x-ole-storage";
const OGG: &str = "audio/ogg";
const MP4: &str = "video/mp4";

/// Does `ext` (the extension's type) name a more specific kind of `content` (the sniffed type)?
fn refines(content: &str, ext: &str) -> bool {
    if content == ext {
        return false;
    }
    let family: &[&str] = match content {
        TEXT => {
            return ext.starts_with("text/")
                || matches!(ext, "application/json" | "application/xml" | "application/yaml")
        }
        ZIP => &[
            DOCX,
            XLSX,
            PPTX,
            "application/vnd.oasis.opendocument.text",
            "application/vnd.oasis.opendocument.spreadsheet",
            "application/vnd.oasis.opendocument.presentation",
            "application/epub+zip",
            "application/java-archive",
            "application/vnd.android.package-archive",
        ],
        // Password-protected OOXML documents are OLE compound files too.
        OLE => &[
            "application/msword",
            "application/vnd.ms-excel",
            "application/vnd.ms-powerpoint",
            "application/vnd.ms-outlook",
            DOCX,
            XLSX,
            PPTX,
        ],
        OGG => &["video/ogg", "audio/opus"],
        "video/webm" | "video/x-matroska" => &["video/webm", "audio/webm", "video/x-matroska", "audio/x-matroska"],
        MP4 => &["audio/mp4", "video/x-m4v"],
        _ => &[],
    };
    family.contains(&ext)
}

const DOCX: &str = "application/vnd.openxmlformats-officedocument.wordprocessingml.document";
const XLSX: &str = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet";
const PPTX: &str = "application/vnd.openxmlformats-officedocument.presentationml.presentation";

/// Extension (lower case, no dot) → media type.
const EXTENSIONS: &[(&str, &str)] = &[
    ("jpg", "image/jpeg"),
    ("jpeg", "image/jpeg"),
    ("jpe", "image/jpeg"),
    ("jfif", "image/jpeg"),
    ("png", "image/png"),
    ("gif", "image/gif"),
    ("webp", "image/webp"),
    ("bmp", "image/bmp"),
    ("tif", "image/tiff"),
    ("tiff", "image/tiff"),
    ("svg", "image/svg+xml"),
    ("ico", "image/vnd.microsoft.icon"),
    ("heic", "image/heic"),
    ("heif", "image/heif"),
    ("avif", "image/avif"),
    ("pdf", "application/pdf"),
    ("txt", TEXT),
    ("text", TEXT),
    ("log", TEXT),
    ("csv", "text/csv"),
    ("tsv", "text/tab-separated-values"),
    ("md", "text/markdown"),
    ("html", "text/html"),
    ("htm", "text/html"),
    ("css", "text/css"),
    ("js", "text/javascript"),
    ("mjs", "text/javascript"),
    ("json", "application/json"),
    ("xml", "application/xml"),
    ("yaml", "application/yaml"),
    ("yml", "application/yaml"),
    ("zip", ZIP),
    ("gz", "application/gzip"),
    ("tgz", "application/gzip"),
    ("tar", "application/x-tar"),
    ("7z", "application/x-7z-compressed"),
    ("rar", "application/vnd.rar"),
    ("doc", "application/msword"),
    ("dot", "application/msword"),
    ("xls", "application/vnd.ms-excel"),
    ("ppt", "application/vnd.ms-powerpoint"),
    ("msg", "application/vnd.ms-outlook"),
    ("docx", DOCX),
    ("xlsx", XLSX),
    ("pptx", PPTX),
    ("odt", "application/vnd.oasis.opendocument.text"),
    ("ods", "application/vnd.oasis.opendocument.spreadsheet"),
    ("odp", "application/vnd.oasis.opendocument.presentation"),
    ("epub", "application/epub+zip"),
    ("jar", "application/java-archive"),
    ("apk", "application/vnd.android.package-archive"),
    ("mp4", MP4),
    ("m4v", "video/x-m4v"),
    ("mov", "video/quicktime"),
    ("avi", "video/x-msvideo"),
    ("webm", "video/webm"),
    ("mkv", "video/x-matroska"),
    ("ogv", "video/ogg"),
    ("mp3", "audio/mpeg"),
    ("m4a", "audio/mp4"),
    ("aac", "audio/aac"),
    ("wav", "audio/wav"),
    ("flac", "audio/flac"),
    ("ogg", OGG),
    ("oga", OGG),
    ("opus", "audio/opus"),
    ("weba", "audio/webm"),
    ("mka", "audio/x-matroska"),
];

fn mime_for_extension(extension: &str) -> Option<&'static str> {
    let ext = extension.strip_prefix('.').unwrap_or(extension);
    EXTENSIONS.iter().find(|(e, _)| e.eq_ignore_ascii_case(ext)).map(|&(_, mime)| mime)
}

/// The type the content announces, if it announces one.
fn sniff_content(head: &[u8]) -> Option<&'static str> {
    /// Fixed magic at offset 0.
    const MAGIC: &[(&[u8], &str)] = &[
        (b"\xFF\xD8\xFF", "image/jpeg"),
        (b"\x89PNG\r\n\x1a\n", "image/png"),
        (b"GIF87a", "image/gif"),
        (b"GIF89a", "image/gif"),
        (b"II*\x00", "image/tiff"),
        (b"MM\x00*", "image/tiff"),
        (b"%PDF-", "application/pdf"),
        (b"PK\x03\x04", ZIP),
        (b"PK\x05\x06", ZIP),
        (b"PK\x07\x08", ZIP),
        (b"\x1F\x8B", "application/gzip"),
        (b"7z\xBC\xAF\x27\x1C", "application/x-7z-compressed"),
        (b"Rar!\x1A\x07", "application/vnd.rar"),
        (b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1", OLE),
        (b"OggS", OGG),
        (b"fLaC", "audio/flac"),
    ];
    if let Some(&(_, mime)) = MAGIC.iter().find(|(magic, _)| head.starts_with(magic)) {
        return Some(mime);
    }
    riff(head)
        .or_else(|| iso_media(head))
        .or_else(|| matroska(head))
        .or_else(|| bmp(head))
        .or_else(|| mpeg_audio(head))
        .or_else(|| text(head))
}

/// RIFF containers: WebP, WAVE, AVI.
fn riff(head: &[u8]) -> Option<&'static str> {
    if !head.starts_with(b"RIFF") {
        return None;
    }
    match head.get(8..12)? {
        b"WEBP" => Some("image/webp"),
        b"WAVE" => Some("audio/wav"),
        b"AVI " => Some("video/x-msvideo"),
        _ => None,
    }
}

/// ISO base media files (`ftyp` box first): MP4, QuickTime, M4A, 3GP, HEIF/HEIC, AVIF.
fn iso_media(head: &[u8]) -> Option<&'static str> {
    if head.get(4..8)? != b"ftyp" {
        return None;
    }
    let brand = head.get(8..12)?;
    Some(match brand {
        b"qt  " => "video/quicktime",
        b"M4A " | b"M4B " => "audio/mp4",
        b"M4V " => "video/x-m4v",
        b"avif" | b"avis" => "image/avif",
        b"heic" | b"heix" | b"heim" | b"heis" | b"hevc" | b"hevx" => "image/heic",
        b"mif1" | b"msf1" => "image/heif",
        _ if brand.starts_with(b"3gp") => "video/3gpp",
        _ => MP4,
    })
}

/// EBML header: WebM when its doctype says so, Matroska otherwise.
fn matroska(head: &[u8]) -> Option<&'static str> {
    if !head.starts_with(b"\x1A\x45\xDF\xA3") {
        return None;
    }
    let header = &head[..head.len().min(64)];
    let webm = header.windows(4).any(|w| w == b"webm");
    Some(if webm { "video/webm" } else { "video/x-matroska" })
}

/// `BM` alone is too weak (text starts with it); require a known DIB header size too.
fn bmp(head: &[u8]) -> Option<&'static str> {
    if !head.starts_with(b"BM") {
        return None;
    }
    let dib = u32::from_le_bytes(head.get(14..18)?.try_into().ok()?);
    matches!(dib, 12 | 40 | 52 | 56 | 64 | 108 | 124).then_some("image/bmp")
}

/// MPEG audio: an ID3v2 tag, or a frame header — MP3 (layer III, or II) or AAC in ADTS.
fn mpeg_audio(head: &[u8]) -> Option<&'static str> {
    // "ID3", major version 2–4, revision (never 0xFF).
    if let [b'I', b'D', b'3', 2..=4, revision, ..] = *head {
        return (revision != 0xFF).then_some("audio/mpeg");
    }
    let &[sync, b1, b2, ..] = head else {
        return None;
    };
    if sync != 0xFF || b1 & 0xE0 != 0xE0 {
        return None;
    }
    let version = (b1 >> 3) & 0b11;
    let layer = (b1 >> 1) & 0b11;
    if layer == 0 {
        // ADTS: 12-bit sync, layer 00, then a valid sampling frequency index (< 13).
        return (b1 & 0xF0 == 0xF0 && (b2 >> 2) & 0x0F < 13).then_some("audio/aac");
    }
    // Layer I is left out: it is all but unused, and FF FE is the UTF-16LE byte order mark.
    let bitrate = b2 >> 4;
    let rate = (b2 >> 2) & 0b11;
    (layer != 0b11 && version != 0b01 && bitrate != 0x0F && rate != 0b11).then_some("audio/mpeg")
}

/// Text: SVG when it clearly is one, otherwise plain text if the head is UTF-8 without NUL.
fn text(head: &[u8]) -> Option<&'static str> {
    if head.is_empty() || head.contains(&0) {
        return None;
    }
    let text = match std::str::from_utf8(head) {
        Ok(text) => text,
        // The head may end inside a character: accept a cut-off final sequence only.
        Err(e) if e.error_len().is_none() && e.valid_up_to() > 0 => {
            std::str::from_utf8(&head[..e.valid_up_to()]).unwrap_or_default()
        }
        Err(_) => return None,
    };
    Some(if is_svg(text) { "image/svg+xml" } else { TEXT })
}

/// The first element (after a BOM, XML declaration, comments and a doctype) is `<svg`.
fn is_svg(text: &str) -> bool {
    let mut rest = text.trim_start_matches('\u{feff}');
    loop {
        rest = rest.trim_start();
        let skip_to = if rest.starts_with("<?") {
            "?>"
        } else if rest.starts_with("<!--") {
            "-->"
        } else if rest.starts_with("<!") {
            ">"
        } else {
            break;
        };
        match rest.find(skip_to) {
            Some(i) => rest = &rest[i + skip_to.len()..],
            None => return false,
        }
    }
    rest.strip_prefix("<svg").and_then(|r| r.chars().next()).is_some_and(|c| c.is_whitespace() || c == '>' || c == '/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_content_first_then_extension() {
        let mp3_frame: &[u8] = &[0xFF, 0xFB, 0x90, 0x64, 0, 0, 0, 0];
        let ftyp = |brand: &[u8; 4]| {
            let mut v = vec![0, 0, 0, 0x18];
            v.extend_from_slice(b"ftyp");
            v.extend_from_slice(brand);
            v.extend_from_slice(&[0; 12]);
            v
        };
        let riff = |kind: &[u8; 4]| {
            let mut v = b"RIFF\x24\x00\x00\x00".to_vec();
            v.extend_from_slice(kind);
            v.extend_from_slice(&[0; 16]);
            v
        };
        let ebml = |doctype: &[u8]| {
            let mut v = b"\x1A\x45\xDF\xA3\x9F\x42\x86\x81\x01\x42\x82\x84".to_vec();
            v.extend_from_slice(doctype);
            v.extend_from_slice(&[0; 8]);
            v
        };
        let bmp = {
            let mut v = b"BM\x46\x00\x00\x00\x00\x00\x00\x00\x36\x00\x00\x00".to_vec();
            v.extend_from_slice(&40u32.to_le_bytes());
            v.extend_from_slice(&[0; 20]);
            v
        };
        let cases: Vec<(&str, Vec<u8>, &str, &str)> = vec![
            // Content decides.
            ("jpeg", b"\xFF\xD8\xFF\xE0\x00\x10JFIF".to_vec(), "", "image/jpeg"),
            ("jpeg named .png", b"\xFF\xD8\xFF\xDB".to_vec(), "png", "image/jpeg"),
            ("png", b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR".to_vec(), "bin", "image/png"),
            ("gif87", b"GIF87a\x01\x00".to_vec(), "", "image/gif"),
            ("gif89", b"GIF89a\x01\x00".to_vec(), "", "image/gif"),
            ("webp", riff(b"WEBP"), "", "image/webp"),
            ("wav", riff(b"WAVE"), "", "audio/wav"),
            ("avi", riff(b"AVI "), "", "video/x-msvideo"),
            ("riff, other", riff(b"CDXA"), "", OCTET_STREAM),
            ("bmp", bmp, "", "image/bmp"),
            ("'BM' text is not a bmp", b"BMW service notes".to_vec(), "", TEXT),
            ("tiff le", b"II*\x00\x08\x00\x00\x00".to_vec(), "", "image/tiff"),
            ("tiff be", b"MM\x00*\x00\x00\x00\x08".to_vec(), "", "image/tiff"),
            ("pdf", b"%PDF-1.7\n%\xE2\xE3\xCF\xD3".to_vec(), "", "application/pdf"),
            ("zip", b"PK\x03\x04\x14\x00".to_vec(), "", ZIP),
            ("empty zip", b"PK\x05\x06".to_vec(), "zip", ZIP),
            ("gzip", b"\x1F\x8B\x08\x00".to_vec(), "", "application/gzip"),
            ("7z", b"7z\xBC\xAF\x27\x1C\x00\x04".to_vec(), "", "application/x-7z-compressed"),
            ("rar4", b"Rar!\x1A\x07\x00".to_vec(), "", "application/vnd.rar"),
            ("rar5", b"Rar!\x1A\x07\x01\x00".to_vec(), "", "application/vnd.rar"),
            ("mp4", ftyp(b"isom"), "", MP4),
            ("mp4 brand mp42", ftyp(b"mp42"), "", MP4),
            ("mov", ftyp(b"qt  "), "mp4", "video/quicktime"),
            ("m4a", ftyp(b"M4A "), "", "audio/mp4"),
            ("3gp", ftyp(b"3gp5"), "", "video/3gpp"),
            ("heic", ftyp(b"heic"), "", "image/heic"),
            ("avif", ftyp(b"avif"), "", "image/avif"),
            ("mp3 with id3", b"ID3\x04\x00\x00\x00\x00\x00\x00".to_vec(), "", "audio/mpeg"),
            ("mp3 frame sync", mp3_frame.to_vec(), "", "audio/mpeg"),
            ("mp3 frame, bad bitrate", vec![0xFF, 0xFB, 0xF0, 0x00], "", OCTET_STREAM),
            ("mp2 frame", vec![0xFF, 0xFD, 0x84, 0x00], "", "audio/mpeg"),
            ("utf-16le bom is not mp3", b"\xFF\xFEh\0i\0".to_vec(), "", OCTET_STREAM),
            ("utf-16le bom, txt", b"\xFF\xFEh\0i\0".to_vec(), "txt", TEXT),
            ("'ID3' text is not mp3", b"ID3 tags, explained".to_vec(), "", TEXT),
            ("aac adts", vec![0xFF, 0xF1, 0x50, 0x80], "", "audio/aac"),
            ("ogg", b"OggS\x00\x02".to_vec(), "", OGG),
            ("flac", b"fLaC\x00\x00\x00\x22".to_vec(), "", "audio/flac"),
            ("webm", ebml(b"webm"), "", "video/webm"),
            ("mkv", ebml(b"matroska"), "", "video/x-matroska"),
            ("ole", b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1\x00".to_vec(), "", OLE),
            ("svg", b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>".to_vec(), "", "image/svg+xml"),
            (
                "svg after prolog",
                b"\xEF\xBB\xBF<?xml version=\"1.0\"?>\n<!-- made by hand -->\n<!DOCTYPE svg>\n<svg>".to_vec(),
                "txt",
                "image/svg+xml",
            ),
            ("svg-ish element is not svg", b"<svgx/>".to_vec(), "", TEXT),
            ("xhtml with inline svg is not svg", b"<?xml version=\"1.0\"?><html><svg/>".to_vec(), "", TEXT),
            ("text", b"hello, world\n".to_vec(), "", TEXT),
            ("utf-8 text", "naïve café ☕\n".as_bytes().to_vec(), "", TEXT),
            ("utf-8 cut mid-character", "ab☕".as_bytes()[..4].to_vec(), "", TEXT),
            ("text with NUL", b"abc\0def".to_vec(), "", OCTET_STREAM),
            ("latin-1 is not text", b"caf\xE9 au lait".to_vec(), "", OCTET_STREAM),
            ("text named .jpg stays text", b"not an image".to_vec(), "jpg", TEXT),
            // Generic content refined by the extension.
            ("csv", b"a,b,c\n1,2,3\n".to_vec(), "csv", "text/csv"),
            ("csv, upper-case ext with dot", b"a,b\n".to_vec(), ".CSV", "text/csv"),
            ("json", b"{\"a\": 1}".to_vec(), "json", "application/json"),
            ("html", b"<!doctype html><p>hi".to_vec(), "html", "text/html"),
            ("text named .svg without <svg", b"just text".to_vec(), "svg", TEXT),
            ("docx", b"PK\x03\x04\x14\x00\x06\x00".to_vec(), "docx", DOCX),
            ("xlsx", b"PK\x03\x04\x14\x00\x06\x00".to_vec(), "XLSX", XLSX),
            ("pptx", b"PK\x03\x04\x14\x00\x06\x00".to_vec(), "pptx", PPTX),
            ("epub", b"PK\x03\x04\x0A\x00".to_vec(), "epub", "application/epub+zip"),
            ("zip named .pdf stays zip", b"PK\x03\x04".to_vec(), "pdf", ZIP),
            ("doc", b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1".to_vec(), "doc", "application/msword"),
            ("xls", b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1".to_vec(), "xls", "application/vnd.ms-excel"),
            ("encrypted docx", b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1".to_vec(), "docx", DOCX),
            ("ole named .zip stays ole", b"\xD0\xCF\x11\xE0\xA1\xB1\x1A\xE1".to_vec(), "zip", OLE),
            ("ogv", b"OggS\x00\x02".to_vec(), "ogv", "video/ogg"),
            ("weba", ebml(b"webm"), "weba", "audio/webm"),
            ("m4a named on isom", ftyp(b"isom"), "m4a", "audio/mp4"),
            // Nothing in the content: the extension decides.
            ("empty, jpg", vec![], "jpg", "image/jpeg"),
            ("binary, pdf", vec![0x00, 0x01, 0x02, 0xFE], "PDF", "application/pdf"),
            ("binary, docx", vec![0x00, 0x01], "docx", DOCX),
            ("binary, doc", vec![0x00, 0x01], "doc", "application/msword"),
            ("binary, xlsx", vec![0x00], "xlsx", XLSX),
            ("binary, ppt", vec![0x00], "ppt", "application/vnd.ms-powerpoint"),
            ("binary, mp4", vec![0x00], "mp4", MP4),
            ("binary, mp3", vec![0x00], "mp3", "audio/mpeg"),
            ("binary, txt", vec![0x00], "txt", TEXT),
            ("binary, unknown ext", vec![0x00, 0x9F], "xyz", OCTET_STREAM),
            ("binary, no ext", vec![0x00, 0x9F], "", OCTET_STREAM),
            ("empty, no ext", vec![], "", OCTET_STREAM),
        ];
        for (name, head, ext, want) in cases {
            assert_eq!(sniff_mime(&head, ext), want, "{name}");
        }
    }

    #[test]
    fn every_extension_in_the_table_is_lower_case_and_unique() {
        for (i, (ext, _)) in EXTENSIONS.iter().enumerate() {
            assert_eq!(*ext, ext.to_ascii_lowercase());
            assert!(EXTENSIONS[i + 1..].iter().all(|(e, _)| e != ext), "{ext} twice");
        }
    }
}
