//! Where uploaded images are kept: files under the data folder (`data_dir/media/`), or objects
//! in an S3-compatible bucket (AWS Signature Version 4 presigned requests from `rusty-s3`, sent
//! with the server's HTTP client). Objects are content-addressed (their name is the SHA-256 of
//! their bytes), so a name never changes meaning: writing one twice is harmless and a reader may
//! cache it for ever.
//!
//! [`ImageStore`] knows nothing about images beyond their bytes; checking, re-encoding and
//! thumbnailing is the application layer's media module.

use std::path::PathBuf;

use anyhow::Context;
use bytes::Bytes;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::s3::S3Bucket;
use crate::config::MediaSettings;

/// Where image objects are kept.
#[derive(Clone, Debug)]
pub enum ImageStore {
    /// Files in a folder (the data folder's `media/`).
    Folder(PathBuf),
    /// Objects in an S3-compatible bucket.
    Bucket(S3Bucket),
}

/// One kept variant of an image.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct ImageVariant {
    /// The object name (`<sha256>.jpg`), served at `/media/{name}`.
    pub name: String,
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    /// Size in bytes.
    pub bytes: u64,
}

impl ImageVariant {
    /// Where the variant is served.
    pub fn url(&self) -> String {
        url(&self.name)
    }
}

/// An image as kept: the full-size variant (at most `app::media::FULL_MAX_SIDE`) and its thumbnails,
/// narrowest first (one per `app::media::THUMB_WIDTHS` width narrower than the image).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct StoredImage {
    /// The full-size variant.
    pub full: ImageVariant,
    /// The thumbnails, narrowest first.
    pub thumbs: Vec<ImageVariant>,
}

impl StoredImage {
    /// The narrowest variant at least `width` pixels wide (the full one when none is).
    pub fn at_least(&self, width: u32) -> &ImageVariant {
        self.thumbs
            .iter()
            .find(|t| t.width >= width)
            .unwrap_or(&self.full)
    }

    /// Every variant, narrowest first (the thumbnails, then the full size).
    pub fn variants(&self) -> impl Iterator<Item = &ImageVariant> {
        self.thumbs.iter().chain(std::iter::once(&self.full))
    }

    /// An `srcset` attribute value: every variant with its width (`/media/… 160w, …`).
    pub fn srcset(&self) -> String {
        self.variants()
            .map(|v| format!("{} {}w", v.url(), v.width))
            .collect::<Vec<_>>()
            .join(", ")
    }
}

/// The path an object is served at.
pub fn url(name: &str) -> String {
    format!("/media/{name}")
}

/// True for the names [`ImageStore`] keeps: 64 lowercase hex digits, a dot and a known
/// extension (`jpg`). Anything else (a path, `..`, a query) is never looked up.
pub fn is_object_name(name: &str) -> bool {
    match name.split_once('.') {
        Some((hash, "jpg")) => {
            hash.len() == 64 && hash.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
        }
        _ => false,
    }
}

impl ImageStore {
    /// The store the settings name: the bucket of `[media.s3]` when configured, else
    /// `data_dir/media/`.
    pub fn from_settings(
        settings: &MediaSettings,
        data_dir: &std::path::Path,
        http: reqwest::Client,
    ) -> anyhow::Result<Self> {
        let s3 = &settings.s3;
        if !s3.enabled() {
            return Ok(Self::Folder(data_dir.join("media")));
        }
        Ok(Self::Bucket(S3Bucket::from_settings(s3, "media.s3", http)?))
    }

    /// Keeps `bytes` under `name` (a name [`is_object_name`] accepts).
    pub async fn put(&self, name: &str, bytes: Bytes, content_type: &str) -> anyhow::Result<()> {
        anyhow::ensure!(is_object_name(name), "not an image object name: {name:?}");
        match self {
            Self::Folder(root) => {
                let path = root.join(name);
                if tokio::fs::try_exists(&path).await.unwrap_or(false) {
                    return Ok(()); // content-addressed: the same bytes are already there
                }
                tokio::fs::create_dir_all(root)
                    .await
                    .with_context(|| format!("creating {}", root.display()))?;
                // Written beside, then renamed: a reader never sees half a file.
                let tmp = root.join(format!(".{name}.{}", uuid::Uuid::now_v7()));
                tokio::fs::write(&tmp, &bytes)
                    .await
                    .with_context(|| format!("writing {}", tmp.display()))?;
                tokio::fs::rename(&tmp, &path)
                    .await
                    .with_context(|| format!("renaming to {}", path.display()))?;
                Ok(())
            }
            Self::Bucket(b) => b.put(name, bytes, content_type).await,
        }
    }

    /// The bytes kept under `name`, or `None` when there is no such object.
    pub async fn get(&self, name: &str) -> anyhow::Result<Option<Bytes>> {
        if !is_object_name(name) {
            return Ok(None);
        }
        match self {
            Self::Folder(root) => match tokio::fs::read(root.join(name)).await {
                Ok(bytes) => Ok(Some(Bytes::from(bytes))),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(anyhow::Error::new(e).context(format!("reading image {name}"))),
            },
            Self::Bucket(b) => b.get(name).await,
        }
    }

    /// Removes the object kept under `name` (nothing when there is none).
    pub async fn delete(&self, name: &str) -> anyhow::Result<()> {
        if !is_object_name(name) {
            return Ok(());
        }
        match self {
            Self::Folder(root) => match tokio::fs::remove_file(root.join(name)).await {
                Ok(()) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(anyhow::Error::new(e).context(format!("removing image {name}"))),
            },
            Self::Bucket(b) => b.delete(name).await,
        }
    }

    /// Creates the bucket (set-up and tests; an existing bucket of ours is fine). The folder
    /// store has nothing to create.
    pub async fn create_bucket(&self) -> anyhow::Result<()> {
        let Self::Bucket(b) = self else {
            return Ok(());
        };
        b.create_bucket().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_content_addressed_names_are_objects() {
        let hash = "a".repeat(64);
        assert!(is_object_name(&format!("{hash}.jpg")));
        for bad in [
            format!("{}.jpg", "A".repeat(64)),
            format!("{}.jpg", "a".repeat(63)),
            format!("{hash}.png"),
            format!("../{hash}.jpg"),
            format!("{hash}.jpg/x"),
            hash.clone(),
            String::new(),
        ] {
            assert!(!is_object_name(&bad), "{bad}");
        }
    }

    #[tokio::test]
    async fn the_folder_store_keeps_reads_and_removes() {
        let dir = tempfile::tempdir().expect("temp dir");
        let store = ImageStore::Folder(dir.path().join("media"));
        let name = format!("{}.jpg", "b".repeat(64));
        assert!(store.get(&name).await.expect("get").is_none());
        store
            .put(&name, Bytes::from_static(b"jpeg bytes"), "image/jpeg")
            .await
            .expect("put");
        assert_eq!(
            store.get(&name).await.expect("get").as_deref(),
            Some(&b"jpeg bytes"[..])
        );
        store.delete(&name).await.expect("delete");
        assert!(store.get(&name).await.expect("get").is_none());
        assert!(store
            .put("../escape.jpg", Bytes::new(), "image/jpeg")
            .await
            .is_err());
    }
}
