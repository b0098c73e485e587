//! Anonymous visitor keys: a salted hash of what identifies a browser (address, user agent),
//! so click de-duplication and rate limits work without keeping a raw IP address, even in
//! memory. The salt is random per process and never stored.

use sha2::{Digest, Sha256};

#[derive(Clone)]
pub struct VisitorKeys {
    salt: [u8; 16],
}

/// 128 bits of a salted SHA-256: unique enough to tell visitors apart, useless to reverse.
pub type VisitorKey = [u8; 16];

impl VisitorKeys {
    pub fn new() -> Self {
        Self { salt: *uuid::Uuid::new_v4().as_bytes() }
    }

    pub fn key(&self, parts: &[&str]) -> VisitorKey {
        let mut hasher = Sha256::new();
        hasher.update(self.salt);
        for part in parts {
            hasher.update(part.len().to_le_bytes());
            hasher.update(part.as_bytes());
        }
        let digest = hasher.finalize();
        let mut key = [0; 16];
        key.copy_from_slice(&digest[..16]);
        key
    }
}

impl Default for VisitorKeys {
    fn default() -> Self {
        Self::new()
    }
}
