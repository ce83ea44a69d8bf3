//! weidu handlers: request → DTO → engine calls → DTO → response.

use sluice_engine::http::{Request, RequestHead, Response};
use sluice_engine::index::records::FileRecord;
use sluice_engine::ingest::DigestSet;
use sluice_engine::media::{self, ImageFormat, PoolError, PreviewSpec};
use sluice_engine::multipart::{MultipartLimits, Parts};
use sluice_engine::{NewObject, PublishedBlob};

use super::names::{check_id, clean_file_name, split_extension};
use super::routes::{route, Endpoint};
use super::types::{attr, Envelope, FileInfo};
use super::{WeiduError, BUCKET};
use crate::auth::bearer::{self, BearerCheck};
use crate::ids::new_id;
use crate::respond::{self, now_ms};
use crate::state::AppState;

/// Most files one listing returns.
pub const MAX_LIST: usize = 10_000;
/// The form field that carries files.
pub const FILES_FIELD: &str = "files";
/// Longest an upload waits for its preview. The media pool runs only on idle CPU, so on a box
/// kept busy by uploads a preview can wait; past this the file is answered without one.
pub const PREVIEW_WAIT: std::time::Duration = std::time::Duration::from_secs(5);

/// Answers a weidu request.
pub async fn handle(state: &AppState, req: &mut Request<'_>) -> Response {
    let result = match route(&req.head) {
        Ok(Endpoint::Upload) => handle_upload(state, req).await,
        Ok(Endpoint::List) => handle_list(state, &req.head),
        Err(e) => Err(e),
    };
    result.unwrap_or_else(|e| {
        if e.status() >= 500 {
            tracing::error!(reqid = %req.request_id, "weidu request failed: {e:?}");
        }
        e.render()
    })
}

fn check_auth(state: &AppState, head: &RequestHead) -> Result<(), WeiduError> {
    match bearer::check(head.header("authorization"), &state.config.tokens, state.config.allow_anonymous) {
        BearerCheck::Rejected => Err(WeiduError::Unauthorized),
        BearerCheck::Valid | BearerCheck::Anonymous => Ok(()),
    }
}

/// `POST /weidu/api/v1/files?user_id=&task_id=`: stores every `files` part, answers 201.
///
/// Everything is checked on the head first (auth, ids, content type), so a refused request is
/// answered before `100 Continue` and before any body byte is read. The records of all files
/// are committed in one batch at the end: a request that fails half-way leaves nothing visible.
pub async fn handle_upload(state: &AppState, req: &mut Request<'_>) -> Result<Response, WeiduError> {
    check_auth(state, &req.head)?;
    let user_id = check_id("user_id", req.head.query_param("user_id"))?;
    let task_id = check_id("task_id", req.head.query_param("task_id"))?;
    let content_type = req.head.header("content-type").unwrap_or_default().to_owned();
    if !content_type.trim_start().to_ascii_lowercase().starts_with("multipart/form-data") {
        return Err(WeiduError::NotMultipart);
    }
    let max_file = state.config.max_body;
    let limits = MultipartLimits { max_file_bytes: max_file, ..MultipartLimits::default() };
    let mut parts = Parts::new(&mut req.body, &content_type, limits)?;

    let now = now_ms();
    let date = utc_yyyymmdd(now);
    let engine = &state.engine;
    let mut objects = Vec::new();
    let mut infos = Vec::new();
    let mut request_group: Option<String> = None;
    while let Some(mut part) = parts.next_part().await? {
        let Some(raw_name) = part.file_name().filter(|_| part.name() == FILES_FIELD).map(str::to_owned) else {
            // Other fields are not part of the contract: read past them.
            while part.chunk().await?.is_some() {}
            continue;
        };
        let name = clean_file_name(&raw_name)?;
        let _in_flight = engine.stats().upload_started();
        let mut sink = engine.begin_ingest(DigestSet::default(), max_file).await?;
        while let Some(chunk) = part.chunk().await? {
            sink.write(chunk).await?;
        }
        drop(part);
        let ingested = sink.finish().await?;
        let (stem, extension) = split_extension(&name);
        let mime = media::sniff_mime(&ingested.head, extension);
        let image = media::probe_image(&ingested.head);
        let in_memory = ingested.in_memory().cloned();
        let blob = engine.publish(ingested).await?;

        let id = new_id();
        // The request's first file id: keeps a request's files together in the listing when
        // two requests of one user commit in the same millisecond.
        let request_group = request_group.get_or_insert_with(|| id.clone()).clone();
        let dir = format!("{date}/task/{task_id}/users/{user_id}/{id}");
        let key = format!("{dir}/{name}");
        let preview_key = format!("{dir}/{stem}_preview.jpg");
        let preview = match image {
            Some(info) if matches!(info.format, ImageFormat::Jpeg | ImageFormat::Png) => {
                make_preview(state, &blob, in_memory).await
            }
            _ => None,
        };
        let preview_path = if preview.is_some() { preview_key.clone() } else { String::new() };
        let record = FileRecord {
            blake3: blob.sums.blake3,
            size: blob.sums.len,
            qetag: blob.sums.qetag.clone(),
            mime: mime.to_owned(),
            md5: None,
            crc32: None,
            // As shown: a portrait phone photo is stored landscape, turned by its EXIF.
            width: image.map(|i| i.display_size().0),
            height: image.map(|i| i.display_size().1),
            created_ms: now,
            updated_ms: now,
            attrs: vec![
                (attr::ID.into(), id.clone()),
                (attr::TASK.into(), task_id.clone()),
                (attr::USER.into(), user_id.clone()),
                (attr::NAME.into(), name.clone()),
                (attr::EXTENSION.into(), extension.to_owned()),
                (attr::PREVIEW.into(), preview_path.clone()),
            ],
        };
        let object = NewObject {
            bucket: BUCKET.into(),
            key: key.clone(),
            record,
            overwrite: false,
            // Listed per task, ordered by user, then time, then request (its files share one
            // time), then the file's place in its request, then id.
            links: vec![(task_collection(&task_id), listing_member(&user_id, now, &request_group, infos.len(), &id))],
            pack: blob.pack,
        };
        infos.push(FileInfo::from_stored(&sluice_engine::StoredObject {
            bucket: BUCKET.into(),
            key,
            record: object.record.clone(),
        }));
        objects.push(object);
        if let Some(p) = preview {
            objects.push(NewObject {
                bucket: BUCKET.into(),
                key: preview_key,
                record: FileRecord {
                    blake3: p.sums.blake3,
                    size: p.sums.len,
                    qetag: p.sums.qetag.clone(),
                    mime: "image/jpeg".into(),
                    md5: None,
                    crc32: None,
                    width: None,
                    height: None,
                    created_ms: now,
                    updated_ms: now,
                    attrs: vec![(attr::ID.into(), id)],
                },
                overwrite: false,
                links: Vec::new(),
                pack: p.pack,
            });
        }
    }
    if infos.is_empty() {
        return Err(WeiduError::NoFiles);
    }
    engine.commit(objects).await?;
    Ok(respond::json(201, &Envelope::ok(infos)))
}

/// Renders and stores a preview of an image blob on the media pool; `None` when the pool is
/// saturated or too slow ([`PREVIEW_WAIT`]), the image is too large (bomb guard) or does not
/// decode — the upload itself still succeeds, with `has_pre_img = false`. `in_memory` is the
/// whole image when the engine kept it in memory (small objects): the preview is then rendered
/// from it, otherwise from the blob's file.
async fn make_preview(
    state: &AppState,
    source: &PublishedBlob,
    in_memory: Option<bytes::Bytes>,
) -> Option<PublishedBlob> {
    /// Where the image's bytes are read from.
    enum Image {
        Memory(bytes::Bytes),
        File(std::path::PathBuf),
    }
    let spec = PreviewSpec::default();
    let image = match in_memory {
        Some(bytes) => Image::Memory(bytes),
        None => Image::File(state.engine.blob_file(source).ok()??),
    };
    let job = state.engine.media_pool().run_within(
        move || match &image {
            Image::Memory(bytes) => media::render_preview(bytes, &spec),
            Image::File(path) => media::render_preview_file(path, &spec),
        },
        PREVIEW_WAIT,
    );
    let bytes = match job.await {
        Ok(Ok(Some(bytes))) => bytes,
        Ok(Ok(None)) => return None,
        Ok(Err(e)) => {
            tracing::debug!("no preview: {e}");
            return None;
        }
        Err(e @ (PoolError::Saturated | PoolError::TimedOut)) => {
            tracing::debug!("no preview: {e}");
            return None;
        }
        Err(e) => {
            tracing::warn!("preview job failed: {e}");
            return None;
        }
    };
    let ingested = state.engine.ingest_bytes(bytes.into()).await.ok()?;
    state.engine.publish(ingested).await.ok()
}

/// `GET /weidu/api/v1/files?task_id=[&user_id=]`: the task's files, oldest first per user.
pub fn handle_list(state: &AppState, head: &RequestHead) -> Result<Response, WeiduError> {
    check_auth(state, head)?;
    let task_id = check_id("task_id", head.query_param("task_id"))?;
    let member_prefix = match head.query_param("user_id").filter(|u| !u.is_empty()) {
        Some(u) => format!("{}/", check_id("user_id", Some(u))?),
        None => String::new(),
    };
    let objects = state.engine.list(&task_collection(&task_id), &member_prefix, MAX_LIST)?;
    let infos = objects.iter().map(FileInfo::from_stored).collect();
    Ok(respond::json(200, &Envelope::ok(infos)))
}

/// A file's member in its task's listing: sorted by user, then time, then request (its files
/// share one time; `request_group` is the id of its first file), then its place in the
/// request, then its id.
fn listing_member(user_id: &str, now_ms: u64, request_group: &str, place: usize, id: &str) -> String {
    format!("{user_id}/{now_ms:016}/{request_group}/{place:04}/{id}")
}

fn task_collection(task_id: &str) -> String {
    format!("weidu/task/{task_id}")
}

/// `YYYYMMDD` of a Unix-milliseconds time, in UTC.
pub fn utc_yyyymmdd(ms: u64) -> String {
    let t = time::OffsetDateTime::from_unix_timestamp((ms / 1000) as i64).unwrap_or(time::OffsetDateTime::UNIX_EPOCH);
    format!("{:04}{:02}{:02}", t.year(), u8::from(t.month()), t.day())
}

#[cfg(test)]
mod tests {
    use super::listing_member;

    #[test]
    fn two_requests_in_one_millisecond_list_apart_each_in_its_order() {
        // Files 0..2 of request A (first id "zzz") and of request B (first id "aaa"), both at
        // t=5, with ids that alone would interleave them.
        let member = |group: &str, place: usize| listing_member("u", 5, group, place, &format!("{place}{group}"));
        let mut all: Vec<(String, &str)> = Vec::new();
        for place in 0..3 {
            all.push((member("zzz", place), "A"));
            all.push((member("aaa", place), "B"));
        }
        all.sort();
        let order: Vec<&str> = all.iter().map(|(_, r)| *r).collect();
        assert_eq!(order, ["B", "B", "B", "A", "A", "A"], "{all:?}");
        assert!(all[0].0 < all[1].0 && all[1].0 < all[2].0, "B's files in their order");
        // An earlier time still lists first, whatever its request.
        assert!(listing_member("u", 4, "zzz", 9, "z") < listing_member("u", 5, "aaa", 0, "a"));
    }

    #[test]
    fn dates() {
        // The contract's example: 2021-02-03 12:04:53 GMT.
        assert_eq!(super::utc_yyyymmdd(1_612_353_893_174), "20210203");
        assert_eq!(super::utc_yyyymmdd(0), "19700101");
    }
}
