//! Images: dimensions and previews. JPEG and PNG get a JPEG preview that fits 400×400 with the
//! aspect ratio kept and is never upscaled; GIF gets its dimensions but no preview; bytes that
//! only claim to be an image get neither, and the upload still succeeds.

use sluice_engine::ingest::SMALL_OBJECT_MAX_BYTES;
use sluice_tests::media::{gif, jpeg, jpeg_dims, png};
use sluice_tests::{assert_envelope, assert_file_info, Multipart, TestServer, TASK, USER};

/// Uploads one image and returns its file_info.
fn upload_image(s: &TestServer, name: &str, content_type: &str, data: &[u8]) -> serde_json::Value {
    let mp = Multipart::new().file("files", name, content_type, data);
    let r = s.send(&mp.upload_request(USER, TASK, &[]));
    assert_eq!(r.status, 201, "{name}: {}", r.text());
    let infos = assert_envelope(&r.json());
    assert_file_info(&infos[0], USER, TASK, name, data.len() as u64);
    s.assert_downloads(infos[0]["path"].as_str().unwrap(), data);
    infos[0].clone()
}

fn assert_preview(s: &TestServer, fi: &serde_json::Value, dims: (u16, u16)) {
    assert_eq!(fi["has_pre_img"], true, "{fi}");
    let p = s.download(fi["preview_path"].as_str().unwrap());
    assert_eq!(p.status, 200, "{fi}");
    assert_eq!(p.header("content-type"), Some("image/jpeg"));
    assert_eq!(jpeg_dims(&p.body), Some(dims), "preview of {}", fi["name"]);
}

#[test]
fn png_gets_dimensions_and_a_preview() {
    let s = TestServer::start(|_| {});
    let fi = upload_image(&s, "pic.png", "image/png", &png(600, 300));
    assert_eq!(fi["mime_type"], "image/png");
    assert_eq!((fi["width"].as_u64(), fi["height"].as_u64()), (Some(600), Some(300)));
    assert_preview(&s, &fi, (400, 200));
}

#[test]
fn previews_come_from_memory_for_packed_images_and_from_the_blob_file_for_larger_ones() {
    let s = TestServer::start(|_| {});
    // The PNGs are uncompressed: 3 bytes a pixel. One packed (in memory when its preview is
    // made), one over the packing limit (a file of its own, read back for the preview).
    for (w, h, packed) in [(500u32, 300u32, true), (800, 600, false)] {
        let data = png(w, h);
        assert_eq!(data.len() as u64 <= SMALL_OBJECT_MAX_BYTES, packed, "{} bytes", data.len());
        let fi = upload_image(&s, &format!("p{w}.png"), "image/png", &data);
        assert_preview(&s, &fi, (400, (400 * h / w) as u16));
    }
}

#[test]
fn a_phone_photo_turned_by_its_exif_is_reported_and_previewed_as_shown() {
    let s = TestServer::start(|_| {});
    // Stored 800×600 landscape, orientation 6: shown 600×800 portrait (as browsers show it).
    let fi = upload_image(&s, "phone.jpg", "image/jpeg", &sluice_tests::media::jpeg_with_orientation(800, 600, 6));
    assert_eq!((fi["width"].as_u64(), fi["height"].as_u64()), (Some(600), Some(800)));
    assert_preview(&s, &fi, (300, 400));
}

#[test]
fn portrait_jpeg_preview_is_bound_by_height_and_small_ones_are_not_upscaled() {
    let s = TestServer::start(|_| {});
    let fi = upload_image(&s, "tall.jpeg", "image/jpeg", &jpeg(300, 600));
    assert_eq!(fi["mime_type"], "image/jpeg");
    assert_eq!((fi["width"].as_u64(), fi["height"].as_u64()), (Some(300), Some(600)));
    assert_preview(&s, &fi, (200, 400));

    let fi = upload_image(&s, "small.jpg", "image/jpeg", &jpeg(120, 80));
    assert_eq!((fi["width"].as_u64(), fi["height"].as_u64()), (Some(120), Some(80)));
    assert_preview(&s, &fi, (120, 80));
}

#[test]
fn gif_gets_dimensions_but_no_preview() {
    let s = TestServer::start(|_| {});
    let fi = upload_image(&s, "anim.gif", "image/gif", &gif(30, 20));
    assert_eq!(fi["mime_type"], "image/gif");
    assert_eq!((fi["width"].as_u64(), fi["height"].as_u64()), (Some(30), Some(20)));
    assert_eq!(fi["has_pre_img"], false);
    assert_eq!(fi["preview_path"], "");
}

#[test]
fn a_fake_jpeg_is_stored_without_dimensions_or_preview() {
    let s = TestServer::start(|_| {});
    // JPEG magic, then garbage: the upload succeeds, nothing is invented.
    let mut fake = vec![0xff, 0xd8, 0xff, 0xe0];
    fake.extend(std::iter::repeat_n(0x5a, 5000));
    let fi = upload_image(&s, "broken.jpg", "image/jpeg", &fake);
    assert_eq!((fi["width"].as_u64(), fi["height"].as_u64()), (Some(0), Some(0)), "{fi}");
    assert_eq!(fi["has_pre_img"], false);
    assert_eq!(fi["preview_path"], "");
}
