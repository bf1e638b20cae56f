//! sha256 digests (oci-spec's typed [`Digest`]) and a writer that computes one while it writes.

pub use oci_spec::image::Digest;
use oci_spec::image::Sha256Digest;
use sha2::{Digest as _, Sha256};
use std::io::Write;

fn from_hash(hash: &[u8]) -> Digest {
    let hex: Sha256Digest = hex::encode(hash).parse().expect("a sha256 hash is 64 lowercase hex digits");
    hex.into()
}

/// Where the blob `digest` names lives in an OCI image layout, below its root: `blobs/ALG/HEX`.
/// A parsed digest holds no `/` and no `..` (the OCI grammar), so the path stays in the layout.
pub fn blob_path(digest: &Digest) -> std::path::PathBuf {
    std::path::Path::new("blobs").join(digest.algorithm().as_ref()).join(digest.digest())
}

pub fn sha256_digest(bytes: &[u8]) -> Digest {
    from_hash(&Sha256::digest(bytes))
}

/// Passes writes through while hashing and counting them.
pub struct HashingWriter<W> {
    inner: W,
    hasher: Sha256,
    count: u64,
}

impl<W: Write> HashingWriter<W> {
    pub fn new(inner: W) -> Self {
        HashingWriter { inner, hasher: Sha256::new(), count: 0 }
    }

    /// (digest, bytes written, inner writer)
    pub fn finish(self) -> (Digest, u64, W) {
        (from_hash(&self.hasher.finalize()), self.count, self.inner)
    }
}

impl<W: Write> Write for HashingWriter<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.hasher.update(&buf[..n]);
        self.count += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_blob_lives_under_blobs_by_algorithm_and_hex() {
        let d = sha256_digest(b"abc");
        assert_eq!(blob_path(&d), std::path::Path::new("blobs/sha256").join(d.digest()));
        for bad in ["sha256:../../etc/passwd", "sha256:a/b", "../x:abc", "sha256:"] {
            assert!(bad.parse::<Digest>().is_err(), "{bad} must not parse");
        }
    }

    #[test]
    fn digests_of_bytes_and_of_a_stream_agree() {
        let d = sha256_digest(b"abc");
        assert_eq!(d.to_string(), "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
        assert_eq!(d.digest().len(), 64);
        let mut w = HashingWriter::new(Vec::new());
        w.write_all(b"a").unwrap();
        w.write_all(b"bc").unwrap();
        let (streamed, n, inner) = w.finish();
        assert_eq!((streamed, n, inner), (d, 3, b"abc".to_vec()));
    }
}
