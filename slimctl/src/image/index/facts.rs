//! Facts read from file contents while a layer streams past, for whoever needs them later (the
//! select stage's coverage rules: the modules a Python file imports, the commands a shell script
//! names). The index reads each file once, when it goes by; nothing is unpacked to disk.

use super::Entry;
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
    /// Whether its facts may wait until its rule asks for them, file by file ([`FactSource`]):
    /// a rule that reads only the files the closure reaches (the kept code's imports) would
    /// otherwise parse every source file of an image (a whole standard library) while it
    /// streams. Only files whose content is stored at an offset wait.
    fn lazy(&self) -> bool {
        false
    }
}

/// The readers an image is opened with.
pub type Readers = [Arc<dyn ContentReader>];

/// Facts of one file: (reader name, facts), one pair per reader that read it.
pub type Facts = Box<[(&'static str, Box<[String]>)]>;

/// What every reader wanting a file says of it.
pub fn read_all(path: &str, content: &[u8], wanting: &[Arc<dyn ContentReader>]) -> Facts {
    wanting.iter().map(|reader| (reader.name(), reader.read(path, content).into_boxed_slice())).collect()
}

/// One file for the readers: where its facts go (a layer's key and an entry's position in it).
struct Job {
    layer: String,
    entry: usize,
    path: String,
    content: Vec<u8>,
    wanting: Vec<Arc<dyn ContentReader>>,
}

/// The facts of one file, for the entry that asked.
pub struct Done {
    pub layer: String,
    pub entry: usize,
    pub facts: Facts,
}

/// Runs the readers on a thread beside the one reading the image stream: parsing every Python
/// or JavaScript file of an image costs as much CPU as reading it, and the stream should not
/// wait for it. Files in flight are bounded, so memory stays flat.
pub struct FactWorker {
    jobs: Option<std::sync::mpsc::SyncSender<Job>>,
    thread: Option<std::thread::JoinHandle<Vec<Done>>>,
}

/// Files queued for the worker at most (each at most a reader's size limit, usually a few KiB).
const IN_FLIGHT: usize = 64;

impl FactWorker {
    pub fn start() -> FactWorker {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Job>(IN_FLIGHT);
        let thread = std::thread::Builder::new()
            .name("slimctl-facts".into())
            .spawn(move || {
                rx.into_iter()
                    .map(|j| Done { facts: read_all(&j.path, &j.content, &j.wanting), layer: j.layer, entry: j.entry })
                    .collect()
            })
            .ok();
        // Without a thread (the system refused one), the files are read inline.
        FactWorker { jobs: thread.as_ref().map(|_| tx), thread }
    }

    /// Queues a file; returns its facts at once when there is no worker to take it.
    pub fn submit(
        &self,
        layer: &str,
        entry: usize,
        path: &str,
        content: Vec<u8>,
        wanting: Vec<Arc<dyn ContentReader>>,
    ) -> Option<Facts> {
        let job = Job { layer: layer.to_owned(), entry, path: path.to_owned(), content, wanting };
        match &self.jobs {
            Some(tx) => match tx.send(job) {
                Ok(()) => None,
                Err(std::sync::mpsc::SendError(job)) => Some(read_all(&job.path, &job.content, &job.wanting)),
            },
            None => Some(read_all(&job.path, &job.content, &job.wanting)),
        }
    }

    /// Every queued file's facts, once all are read.
    pub fn finish(mut self) -> Vec<Done> {
        drop(self.jobs.take());
        self.thread.take().and_then(|t| t.join().ok()).unwrap_or_default()
    }
}

/// Files whose deferred facts stay cached.
const FACT_CACHE_MAX: usize = 4096;

/// Facts read on demand, by (layer, path of the content, reader).
type FactCache = std::collections::HashMap<(usize, String, usize), Arc<[String]>>;

/// Where deferred facts are read. The stored copy is read with `pread`, not mapped: the closure
/// of a large tree reads a small file here and there all over the copy, and each page fault
/// would map its neighbours too, so the mapped pages of a whole image would count as ours.
enum Bytes {
    None,
    File(std::fs::File),
    Dirs(Arc<crate::image::source::storage::LayerDirs>),
}

/// Facts of files, read when a rule asks: read while indexed ([`Entry::facts_from`]), or read
/// now from where the image is stored, once, for the readers that deferred them.
pub struct FactSource {
    bytes: Bytes,
    readers: Vec<Arc<dyn ContentReader>>,
    cache: std::sync::Mutex<FactCache>,
}

impl FactSource {
    /// Facts as the index holds them, nothing deferred.
    pub fn indexed() -> FactSource {
        FactSource { bytes: Bytes::None, readers: Vec::new(), cache: Default::default() }
    }

    /// For `image`: its deferred facts are read where it is stored (its stored copy, mapped, or
    /// the engine's storage).
    pub fn of(image: &crate::image::Image) -> Result<FactSource, crate::error::ImageError> {
        if image.readers.is_empty() {
            return Ok(FactSource::indexed());
        }
        let bytes = match &image.store {
            crate::image::Store::None => return Ok(FactSource::indexed()),
            crate::image::Store::Dirs(dirs) => Bytes::Dirs(dirs.clone()),
            crate::image::Store::File(path) => Bytes::File(
                std::fs::File::open(path)
                    .map_err(|source| crate::error::ImageError::Read { path: path.clone(), source })?,
            ),
        };
        Ok(FactSource { bytes, readers: image.readers.clone(), cache: Default::default() })
    }

    /// What reader `name` says of the file at `path`, if it wanted the file.
    pub fn facts(&self, path: &str, entry: &Entry, name: &str) -> Option<Arc<[String]>> {
        if let Some(f) = entry.facts_from(name) {
            return Some(f.into());
        }
        let i = self.readers.iter().position(|r| r.name() == name)?;
        if entry.lazy & (1 << i) == 0 {
            return None;
        }
        let (layer, src) = entry.content_source(path)?;
        let key = (layer, src.to_owned(), i);
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(f) = cache.get(&key) {
            return Some(f.clone());
        }
        let bytes = match &self.bytes {
            Bytes::None => return None,
            Bytes::File(file) => {
                let mut buf = vec![0; usize::try_from(entry.size).ok()?];
                std::os::unix::fs::FileExt::read_exact_at(file, &mut buf, entry.stored_at?).ok()?;
                buf
            }
            Bytes::Dirs(dirs) => {
                let mut buf = Vec::with_capacity(entry.size as usize);
                std::io::Read::read_to_end(&mut dirs.open_file(layer, src).ok()?, &mut buf).ok()?;
                buf
            }
        };
        let facts: Arc<[String]> = self.readers[i].read(path, &bytes).into();
        // The closure asks once per file and rule, and a few files (package `__init__`s) again:
        // a bounded cache serves those without holding an included tree's facts all at once.
        if cache.len() >= FACT_CACHE_MAX {
            cache.clear();
        }
        cache.insert(key, facts.clone());
        Some(facts)
    }
}
