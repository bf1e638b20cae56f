//! Facts read from file contents while a layer streams past, for whoever needs them later (the
//! select stage's coverage rules: the modules a Python file imports, the commands a shell script
//! names). The index reads each file once, when it goes by; nothing is unpacked to disk.

use std::sync::Arc;

/// How many leading bytes a reader sees before it says whether it wants the whole file.
pub const HEAD: usize = 256;

/// A reader of one kind of file content.
pub trait ContentReader: Send + Sync {
    /// The name its facts are stored under (the coverage rule that reads them).
    fn name(&self) -> &'static str;
    /// Whether to read this regular file whole, from its path, size and first bytes (at most
    /// [`HEAD`]): a cheap test, asked of every file of the image.
    fn wants(&self, path: &str, size: u64, head: &[u8]) -> bool;
    /// What the file says, in the reader's own words (decoded by the same rule later).
    fn read(&self, path: &str, content: &[u8]) -> Vec<String>;
}

/// The readers an image is opened with.
pub type Readers = [Arc<dyn ContentReader>];

/// Facts of one file: (reader name, facts), one pair per reader that read it.
pub type Facts = Box<[(&'static str, Box<[String]>)]>;
