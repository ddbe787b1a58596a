//! Media: product images in an object store (a local directory by default,
//! any S3-compatible service by config) through the `object_store` crate.
//!
//! Objects are content-addressed, `<store_id>/<sha256>.<ext>`: the same
//! bytes always get the same URL, and a URL's content never changes, so
//! responses may be cached forever. Image rows belong to the catalog; this
//! module only stores and serves bytes; `routes` serves them.

use std::sync::Arc;

use bytes::Bytes;
use hex::encode as hex;
use mercato_tenants::StoreId;
use object_store::path::Path as ObjectPath;
use object_store::{ObjectStore, PutPayload};
use sha2::{Digest, Sha256};

use crate::config::MediaConfig;

/// Cache-Control of content-addressed objects.
pub const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// The kinds of image accepted, recognized by their leading bytes (the
/// client's Content-Type is not trusted).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImageKind {
    Png,
    Jpeg,
    Gif,
    Webp,
}

impl ImageKind {
    const ALL: [ImageKind; 4] = [Self::Png, Self::Jpeg, Self::Gif, Self::Webp];

    pub fn sniff(bytes: &[u8]) -> Option<Self> {
        match bytes {
            [0x89, b'P', b'N', b'G', 0x0d, 0x0a, 0x1a, 0x0a, ..] => Some(Self::Png),
            [0xff, 0xd8, 0xff, ..] => Some(Self::Jpeg),
            [b'G', b'I', b'F', b'8', b'7' | b'9', b'a', ..] => Some(Self::Gif),
            [b'R', b'I', b'F', b'F', _, _, _, _, b'W', b'E', b'B', b'P', ..] => Some(Self::Webp),
            _ => None,
        }
    }

    pub const fn extension(self) -> &'static str {
        match self {
            Self::Png => "png",
            Self::Jpeg => "jpg",
            Self::Gif => "gif",
            Self::Webp => "webp",
        }
    }

    pub const fn content_type(self) -> &'static str {
        match self {
            Self::Png => "image/png",
            Self::Jpeg => "image/jpeg",
            Self::Gif => "image/gif",
            Self::Webp => "image/webp",
        }
    }

    fn from_extension(ext: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.extension() == ext)
    }
}

/// A stored object.
#[derive(Debug, Clone)]
pub struct Stored {
    pub key: String,
    pub url: String,
    pub sha256: String,
    pub kind: ImageKind,
    pub size: usize,
}

/// Parses an object file name `<64 hex>.<ext>`.
pub fn parse_file_name(file: &str) -> Option<ImageKind> {
    let (hash, ext) = file.split_once('.')?;
    let hex = hash.len() == 64
        && hash
            .bytes()
            .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase());
    if hex {
        ImageKind::from_extension(ext)
    } else {
        None
    }
}

#[derive(Clone)]
pub struct MediaStore {
    objects: Arc<dyn ObjectStore>,
    url_base: String,
}

impl MediaStore {
    pub fn from_config(config: &MediaConfig) -> anyhow::Result<Self> {
        let objects: Arc<dyn ObjectStore> = match config.store.as_str() {
            "local" => {
                std::fs::create_dir_all(&config.dir).map_err(|e| {
                    anyhow::anyhow!("creating media directory {}: {e}", config.dir)
                })?;
                Arc::new(object_store::local::LocalFileSystem::new_with_prefix(
                    &config.dir,
                )?)
            }
            #[cfg(feature = "s3")]
            "s3" => {
                let mut builder = object_store::aws::AmazonS3Builder::new()
                    .with_bucket_name(&config.s3.bucket)
                    .with_region(&config.s3.region)
                    .with_access_key_id(&config.s3.access_key_id)
                    .with_secret_access_key(&config.s3.secret_access_key);
                if !config.s3.endpoint.is_empty() {
                    builder = builder
                        .with_endpoint(&config.s3.endpoint)
                        .with_allow_http(config.s3.endpoint.starts_with("http://"));
                }
                Arc::new(builder.build()?)
            }
            #[cfg(not(feature = "s3"))]
            "s3" => anyhow::bail!(
                "media.store = \"s3\" needs a mercato built with S3 support (cargo build --features s3)"
            ),
            other => anyhow::bail!("media.store must be `local` or `s3`, not `{other}`"),
        };
        Ok(Self {
            objects,
            url_base: config.url_base.trim_end_matches('/').to_owned(),
        })
    }

    /// The public URL of an object: under the configured base (a CDN or the
    /// bucket), or served by the pod itself on the store's domain.
    fn url(&self, key: &str, file: &str) -> String {
        if self.url_base.is_empty() {
            format!("/media/{file}")
        } else {
            format!("{}/{key}", self.url_base)
        }
    }

    /// Stores an image of `store`; returns `None` if the bytes are not an
    /// image of a supported kind.
    pub async fn put_image(
        &self,
        store: StoreId,
        bytes: Bytes,
    ) -> Result<Option<Stored>, object_store::Error> {
        let Some(kind) = ImageKind::sniff(&bytes) else {
            return Ok(None);
        };
        let sha256 = hex(Sha256::digest(&bytes));
        let file = format!("{sha256}.{}", kind.extension());
        let key = format!("{store}/{file}");
        let size = bytes.len();
        self.objects
            .put(&ObjectPath::from(key.as_str()), PutPayload::from(bytes))
            .await?;
        Ok(Some(Stored {
            url: self.url(&key, &file),
            key,
            sha256,
            kind,
            size,
        }))
    }

    /// The bytes of an object of `store`, if it exists.
    pub async fn get(
        &self,
        store: StoreId,
        file: &str,
    ) -> Result<Option<Bytes>, object_store::Error> {
        let key = ObjectPath::from(format!("{store}/{file}"));
        match self.objects.get(&key).await {
            Ok(got) => got.bytes().await.map(Some),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sniffs_images_by_their_bytes() {
        assert_eq!(
            ImageKind::sniff(b"\x89PNG\r\n\x1a\n...."),
            Some(ImageKind::Png)
        );
        assert_eq!(ImageKind::sniff(b"\xff\xd8\xff\xe0"), Some(ImageKind::Jpeg));
        assert_eq!(ImageKind::sniff(b"GIF89a.."), Some(ImageKind::Gif));
        assert_eq!(
            ImageKind::sniff(b"RIFF\0\0\0\0WEBPVP8 "),
            Some(ImageKind::Webp)
        );
        assert_eq!(ImageKind::sniff(b"<svg></svg>"), None);
        assert_eq!(ImageKind::sniff(b""), None);
    }

    #[test]
    fn file_names() {
        let hash = "a".repeat(64);
        assert_eq!(
            parse_file_name(&format!("{hash}.png")),
            Some(ImageKind::Png)
        );
        assert_eq!(parse_file_name(&format!("{hash}.exe")), None);
        assert_eq!(parse_file_name("../../etc/passwd"), None);
        assert_eq!(parse_file_name(&format!("{}.png", "A".repeat(64))), None);
        assert_eq!(hex([0, 255, 16]), "00ff10");
    }
}
