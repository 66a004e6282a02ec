//! An S3-compatible bucket: AWS Signature Version 4 presigned requests from `rusty-s3`, sent
//! with the server's HTTP client. Shared by the image store ([`super::media`]) and the daily
//! export to a big-data platform (`app::export`); each names its own objects.

use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use rusty_s3::{Bucket, Credentials, S3Action, UrlStyle};

use crate::config::S3Settings;

/// How long a signed request stays valid (it is sent at once).
const SIGNED_FOR: Duration = Duration::from_secs(300);

/// An S3-compatible bucket and the credentials to sign for it.
#[derive(Clone, Debug)]
pub struct S3Bucket {
    bucket: Bucket,
    credentials: Credentials,
    http: reqwest::Client,
}

impl S3Bucket {
    /// The bucket `settings` name; `what` names the settings in errors (`media.s3`).
    pub fn from_settings(
        settings: &S3Settings,
        what: &str,
        http: reqwest::Client,
    ) -> anyhow::Result<Self> {
        let endpoint: reqwest::Url = settings
            .endpoint
            .trim()
            .parse()
            .with_context(|| format!("{what}.endpoint {:?} is not a URL", settings.endpoint))?;
        let style = if settings.path_style {
            UrlStyle::Path
        } else {
            UrlStyle::VirtualHost
        };
        let bucket = Bucket::new(
            endpoint,
            style,
            settings.bucket.trim().to_owned(),
            settings.region.trim().to_owned(),
        )
        .with_context(|| format!("{what}: the endpoint must be an http(s) URL with a host"))?;
        Ok(Self {
            bucket,
            credentials: Credentials::new(
                settings.access_key_id.trim().to_owned(),
                settings.secret_access_key.trim().to_owned(),
            ),
            http,
        })
    }

    /// The bucket's name.
    pub fn name(&self) -> &str {
        self.bucket.name()
    }

    /// Keeps `bytes` under the object key `key` (replacing what was there).
    pub async fn put(&self, key: &str, bytes: Bytes, content_type: &str) -> anyhow::Result<()> {
        let mut action = self.bucket.put_object(Some(&self.credentials), key);
        action
            .headers_mut()
            .insert("content-type", content_type.to_owned());
        let url = action.sign(SIGNED_FOR);
        let response = self
            .http
            .put(url)
            .header(reqwest::header::CONTENT_TYPE, content_type)
            .body(bytes)
            .send()
            .await
            .context("S3 PutObject")?;
        check(response, "PutObject").await.map(|_| ())
    }

    /// The bytes kept under `key`, or `None` when there is no such object.
    pub async fn get(&self, key: &str) -> anyhow::Result<Option<Bytes>> {
        let url = self
            .bucket
            .get_object(Some(&self.credentials), key)
            .sign(SIGNED_FOR);
        let response = self.http.get(url).send().await.context("S3 GetObject")?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(None);
        }
        let response = check(response, "GetObject").await?;
        Ok(Some(response.bytes().await.context("S3 GetObject body")?))
    }

    /// Removes the object under `key` (nothing when there is none).
    pub async fn delete(&self, key: &str) -> anyhow::Result<()> {
        let url = self
            .bucket
            .delete_object(Some(&self.credentials), key)
            .sign(SIGNED_FOR);
        let response = self
            .http
            .delete(url)
            .send()
            .await
            .context("S3 DeleteObject")?;
        if response.status() == reqwest::StatusCode::NOT_FOUND {
            return Ok(());
        }
        check(response, "DeleteObject").await.map(|_| ())
    }

    /// Creates the bucket (set-up and tests; an existing bucket of ours is fine).
    pub async fn create_bucket(&self) -> anyhow::Result<()> {
        let url = self
            .bucket
            .create_bucket(&self.credentials)
            .sign(SIGNED_FOR);
        let response = self
            .http
            .put(url)
            .header(reqwest::header::CONTENT_LENGTH, 0)
            .body(Vec::new())
            .send()
            .await
            .context("S3 CreateBucket")?;
        if response.status() == reqwest::StatusCode::CONFLICT {
            return Ok(()); // BucketAlreadyOwnedByYou
        }
        check(response, "CreateBucket").await.map(|_| ())
    }
}

/// A 2xx answer, or an error naming the action, the status and the start of the body (S3's
/// XML error code).
async fn check(response: reqwest::Response, action: &str) -> anyhow::Result<reqwest::Response> {
    if response.status().is_success() {
        return Ok(response);
    }
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    let body: String = body.chars().take(300).collect();
    anyhow::bail!("S3 {action} answered {status}: {body}")
}
