//! weidu DTOs, field for field as the contract lists them (with their JSON types).

use serde::Serialize;
use sluice_engine::StoredObject;

/// One entry of `file_infos`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct FileInfo {
    pub id: String,
    pub task_id: String,
    pub user_id: String,
    pub create_time: u64,
    pub update_time: u64,
    pub path: String,
    pub preview_path: String,
    pub name: String,
    pub extension: String,
    pub size: u64,
    pub mime_type: String,
    pub width: u32,
    pub height: u32,
    pub has_pre_img: bool,
}

/// Attribute names stored on the file record (the engine does not interpret them).
pub mod attr {
    pub const ID: &str = "weidu.id";
    pub const TASK: &str = "weidu.task_id";
    pub const USER: &str = "weidu.user_id";
    pub const NAME: &str = "weidu.name";
    pub const EXTENSION: &str = "weidu.extension";
    pub const PREVIEW: &str = "weidu.preview_path";
}

impl FileInfo {
    /// Rebuilds the DTO from a stored record.
    pub fn from_stored(o: &StoredObject) -> Self {
        let r = &o.record;
        let a = |k| r.attr(k).unwrap_or_default().to_owned();
        let preview_path = a(attr::PREVIEW);
        Self {
            id: a(attr::ID),
            task_id: a(attr::TASK),
            user_id: a(attr::USER),
            create_time: r.created_ms,
            update_time: r.updated_ms,
            path: o.key.clone(),
            has_pre_img: !preview_path.is_empty(),
            preview_path,
            name: a(attr::NAME),
            extension: a(attr::EXTENSION),
            size: r.size,
            mime_type: r.mime.clone(),
            width: r.width.unwrap_or(0),
            height: r.height.unwrap_or(0),
        }
    }
}

/// `data`.
#[derive(Debug, Serialize)]
pub struct Data {
    pub file_infos: Vec<FileInfo>,
    pub client_ids: Vec<String>,
}

/// The success body.
#[derive(Debug, Serialize)]
pub struct Envelope {
    pub code: u16,
    pub data: Data,
    pub result: &'static str,
}

impl Envelope {
    /// `{"code":200,"data":{...},"result":"ok"}`.
    pub fn ok(file_infos: Vec<FileInfo>) -> Self {
        Self { code: 200, data: Data { file_infos, client_ids: Vec::new() }, result: "ok" }
    }
}

/// The error body.
#[derive(Debug, Serialize)]
pub struct ErrorBody {
    pub code: u16,
    pub result: String,
}
