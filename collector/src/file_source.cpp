// DirectorySource: follows a directory tree of growing log files.
//
// Shape of one RunOnce step:
//   1. A batch refused earlier (back-pressure) is offered again, alone.
//   2. Gather: inotify events (or a due rescan) name paths to check; each is
//      stat'ed and classified — new, grown, truncated, replaced, deleted.
//   3. Fill: files with unread bytes are read in chunks into their streaming
//      framers until max_batch_events records are queued or
//      max_batch_bytes have been read. Each framed record becomes an Item in
//      its file's queue, tagged with the file offset a checkpoint may point
//      to once it is consumed.
//   4. Assemble and deliver one batch; checkpoints move only when the sink
//      accepts it.
//
// A root that is a regular file is followed alone through the same File
// machinery: only what discovers paths differs (its parent directory is
// watched, or the file stat'ed, and only that one name is considered), so
// appends, truncation, replacement, checkpoints and back-pressure behave
// exactly as for a file found in a tree.
#include <fcntl.h>
#include <poll.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <deque>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <unordered_map>
#include <variant>

#include "cmkwatch/collector/framing.h"
#include "cmkwatch/collector/reader.h"
#include "cmkwatch/collector/source.h"
#include "read_util.h"
#include "stop_signal.h"

namespace cmkwatch::collector {
namespace {

namespace fs = std::filesystem;
using internal::UniqueFd;
using Clock = std::chrono::steady_clock;

// One consumed (or to-be-consumed) unit of a file, in file order. A
// monostate item carries only a checkpoint (a reset to 0 after truncation,
// a gzip file's compressed size).
struct Item {
  std::variant<std::monostate, Event, QuarantineEntry> value;
  uint64_t start = 0;
  // Where a checkpoint may point once this item is consumed. Unknown for a
  // refused region whose end has not been seen yet; such an item (and every
  // later one of its file) waits.
  std::optional<uint64_t> end;
};

struct File;

// Turns what a file's framer cuts into Items of that file.
class FileFramerSink final : public FramerSink {
 public:
  FileFramerSink(File& file, const ReadOptions& options) : file_(file), options_(options) {}
  void OnRecord(const FramedRecord& record) override;
  void OnError(const FrameError& error) override;

 private:
  File& file_;
  const ReadOptions& options_;
};

struct File {
  std::string path;
  uint64_t device = 0;
  uint64_t inode = 0;
  bool gz = false;
  UniqueFd fd;
  uint64_t lru = 0;  // last use tick, for closing idle descriptors

  uint64_t read_off = 0;  // next byte to read (plain files)
  uint64_t base = 0;      // file offset of the framer's first byte
  std::optional<uint64_t> line_base = 1;  // 1 + newlines before `base`; computed lazily after a resume
  int64_t snapshot_time = 0;
  std::unique_ptr<FileFramerSink> framer_sink;
  std::unique_ptr<Framer> framer;

  std::deque<Item> items;
  uint64_t committed = 0;  // offset the sink last accepted

  bool want_read = false;  // may have unread bytes
  bool orphan = false;     // replaced or deleted: drain what the open fd still gives, then forget
  bool finished = false;   // framer finished (orphans)
  bool failed = false;     // could not be opened/read; retried when its stat changes

  // gzip: read whole once unchanged across two polls.
  uint64_t gz_size = 0;
  int64_t gz_mtime = 0;
  bool gz_seen = false;
  bool gz_done = false;

  size_t* queued = nullptr;  // the source's count of queued records

  void Push(Item item) {
    // A refused region ends where the next thing starts.
    if (!items.empty() && !items.back().end) items.back().end = item.start;
    if (!std::holds_alternative<std::monostate>(item.value)) ++*queued;
    items.push_back(std::move(item));
  }

  // The 1-based line of a framer-relative line; 0 when it cannot be known.
  uint64_t AbsoluteLine(uint64_t framer_line) {
    if (!line_base && fd.valid()) {
      // Resumed mid-file: count the newlines before `base` once.
      uint64_t lines = 1;
      char buf[1 << 16];
      uint64_t pos = 0;
      while (pos < base) {
        const size_t want = static_cast<size_t>(std::min<uint64_t>(sizeof buf, base - pos));
        const ssize_t n = ::pread(fd.get(), buf, want, static_cast<off_t>(pos));
        if (n <= 0) break;
        lines += static_cast<uint64_t>(std::count(buf, buf + n, '\n'));
        pos += static_cast<uint64_t>(n);
      }
      if (pos == base) line_base = lines;
    }
    return line_base ? *line_base + framer_line - 1 : 0;
  }

  void ResetFramer(const ReadOptions& options) {
    framer.reset();
    framer_sink = std::make_unique<FileFramerSink>(*this, options);
    framer = std::make_unique<Framer>(*framer_sink, internal::FramerOptionsFor(options.limits));
  }
};

void FileFramerSink::OnRecord(const FramedRecord& record) {
  auto parsed = internal::ParseFramed(record, file_.path, options_, file_.snapshot_time);
  Item item;
  item.start = file_.base + record.offset;
  item.end = item.start + record.record.bytes.size();
  if (auto* q = std::get_if<QuarantineEntry>(&parsed)) {
    q->offset = item.start;
    q->line = file_.AbsoluteLine(record.line);
    item.value = std::move(*q);
  } else {
    item.value = std::get<Event>(std::move(parsed));
  }
  file_.Push(std::move(item));
}

void FileFramerSink::OnError(const FrameError& error) {
  QuarantineEntry q = internal::FrameErrorEntry(file_.path, error);
  Item item;
  item.start = file_.base + error.offset;
  q.offset = item.start;
  q.line = file_.AbsoluteLine(error.line);
  item.value = std::move(q);
  file_.Push(std::move(item));  // end unknown until the next record or newline
}

// Collects a whole gzip file's records (offsets in the decompressed stream).
class GzipCollector final : public RecordHandler {
 public:
  explicit GzipCollector(File& file) : file_(file) {}
  void OnEvent(Event&& event, const RecordLocation& where) override {
    file_.Push(Item{std::move(event), where.offset, uint64_t{0}});
  }
  void OnQuarantine(Quarantined&& entry) override {
    const uint64_t offset = entry.offset;
    file_.Push(Item{std::move(entry), offset, uint64_t{0}});
  }

 private:
  File& file_;
};

int64_t MtimeNs(const struct stat& st) {
  return static_cast<int64_t>(st.st_mtim.tv_sec) * 1'000'000'000 + st.st_mtim.tv_nsec;
}

bool EndsWith(std::string_view s, std::string_view suffix) {
  return s.size() >= suffix.size() && s.compare(s.size() - suffix.size(), suffix.size(), suffix) == 0;
}

bool HiddenName(const fs::path& p) {
  const std::string name = p.filename().string();
  return !name.empty() && name.front() == '.';
}

constexpr uint32_t kDirMask = IN_CREATE | IN_MODIFY | IN_MOVED_TO | IN_CLOSE_WRITE | IN_MOVED_FROM | IN_DELETE |
                              IN_ATTRIB | IN_ONLYDIR;

}  // namespace

struct DirectorySource::Impl {
  Impl(std::string root_dir, DirectorySourceOptions opts, std::vector<FileCheckpoint> resume_points,
       SourceSink& batch_sink)
      : root(std::move(root_dir)), options(opts), sink(batch_sink) {
    read_options.format = options.format;
    read_options.limits = options.limits;
    read_options.chunk_bytes = std::max<size_t>(options.read_chunk_bytes, 4096);
    if (options.max_batch_events == 0) options.max_batch_events = 1;
    if (options.max_open_files == 0) options.max_open_files = 1;
    for (auto& cp : resume_points) resume.emplace(cp.path, std::move(cp));
  }

  // --- configuration and collaborators
  std::string root;
  // Root is one regular file: only `file_name` in `parent_dir` is followed.
  bool single_file = false;
  std::string parent_dir;
  std::string file_name;
  DirectorySourceOptions options;
  ReadOptions read_options;
  SourceSink& sink;
  std::unordered_map<std::string, FileCheckpoint> resume;

  // --- followed files
  std::map<std::string, std::unique_ptr<File>> files;
  std::vector<std::unique_ptr<File>> orphans;
  size_t queued = 0;  // records in all files' queues
  uint64_t lru_tick = 0;
  std::string rr_cursor;  // round-robin position among files
  std::vector<char> buf;

  // --- change notification
  UniqueFd inotify;
  std::unordered_map<int, std::string> watch_dirs;  // wd -> directory
  std::set<std::string> watched;                    // directories with a watch
  std::set<std::string> dirty;                      // paths to check
  bool need_full_scan = true;
  Clock::time_point next_full_scan{};
  Clock::time_point next_poll{};
  internal::StopSignal stop;
  bool set_up = false;

  // --- the batch being offered
  struct Commit {
    File* file;
    uint64_t offset;
  };
  struct Batch {
    std::vector<Event> events;
    std::vector<QuarantineEntry> quarantined;
    std::vector<FileCheckpoint> through;
    std::vector<Commit> commits;
  };
  std::optional<Batch> inflight;

  DirectorySourceStats stats;

  // ------------------------------------------------------------------ setup

  Status Setup() {
    std::error_code ec;
    const fs::file_status root_status = fs::status(root, ec);
    if (fs::is_regular_file(root_status)) {
      single_file = true;
      const fs::path p(root);
      // A bare name lives in the current directory; inotify needs a path.
      parent_dir = p.has_parent_path() ? p.parent_path().string() : std::string(".");
      file_name = p.filename().string();
    } else if (!fs::is_directory(root_status)) {
      // Refused at once so that a typo in a path is caught at start-up
      // rather than followed silently forever. A FIFO or a device is a
      // stream (StreamSource), not something to follow by offset.
      return fs::exists(root_status) ? Status::InvalidArgument(root + ": not a directory or regular file")
                                     : Status::NotFound(root + ": no such file or directory");
    }
    if (Status s = stop.Open(); !s.ok()) return s;
    buf.resize(read_options.chunk_bytes + kPadding);
    if (!options.force_polling) {
      inotify.reset(::inotify_init1(IN_NONBLOCK | IN_CLOEXEC));
      if (inotify.valid()) {
        if (single_file) {
          // The parent, not the file: a watch on the file itself would
          // follow the old inode after a rename-over and never see the
          // new file created under the path.
          WatchDir(parent_dir);
          dirty.insert(root);
        } else {
          WatchTree(root);
        }
      }
    }
    stats.inotify = inotify.valid();
    set_up = true;
    return Status::Ok();
  }

  // Falls back to polling when watches cannot be had (limit reached).
  void DropInotify() {
    inotify.reset();
    watch_dirs.clear();
    watched.clear();
    stats.inotify = false;
  }

  void WatchDir(const std::string& dir) {
    if (!inotify.valid() || watched.count(dir) != 0) return;
    const int wd = ::inotify_add_watch(inotify.get(), dir.c_str(), kDirMask);
    if (wd < 0) {
      if (errno == ENOSPC || errno == ENOMEM) DropInotify();
      return;  // a vanished directory: nothing to watch
    }
    watch_dirs[wd] = dir;
    watched.insert(dir);
  }

  // Watches `dir` and every non-hidden directory below it; checks the log
  // files found there (a directory created before its watch may already
  // hold files).
  void WatchTree(const std::string& dir) {
    WatchDir(dir);
    internal::WalkLogTree(
        dir, [&](const fs::path& d) { WatchDir(d.string()); }, [&](const fs::path& f) { dirty.insert(f.string()); });
  }

  // --------------------------------------------------------------- gather

  void DrainInotify() {
    if (!inotify.valid()) return;
    alignas(inotify_event) char events[16384];
    for (;;) {
      const ssize_t n = ::read(inotify.get(), events, sizeof events);
      if (n <= 0) break;
      for (ssize_t off = 0; off < n;) {
        inotify_event ev{};
        std::memcpy(&ev, events + off, sizeof ev);
        const char* name = events + off + static_cast<ssize_t>(sizeof ev);
        off += static_cast<ssize_t>(sizeof ev + ev.len);
        if ((ev.mask & IN_Q_OVERFLOW) != 0) {
          need_full_scan = true;
          continue;
        }
        auto it = watch_dirs.find(ev.wd);
        if (it == watch_dirs.end()) continue;
        if ((ev.mask & IN_IGNORED) != 0) {
          watched.erase(it->second);
          watch_dirs.erase(it);
          continue;
        }
        if (ev.len == 0) continue;
        if (single_file) {
          // Only the followed name counts; siblings and subdirectories of
          // its parent are none of our business.
          if ((ev.mask & IN_ISDIR) == 0 && file_name == name) dirty.insert(root);
          continue;
        }
        const fs::path full = fs::path(it->second) / std::string(name);
        if ((ev.mask & IN_ISDIR) != 0) {
          if (HiddenName(full)) continue;
          if ((ev.mask & (IN_CREATE | IN_MOVED_TO)) != 0) WatchTree(full.string());
          if ((ev.mask & (IN_DELETE | IN_MOVED_FROM)) != 0) need_full_scan = true;
          if (!inotify.valid()) return;  // fell back to polling
          continue;
        }
        if (internal::LooksLikeLogFile(full)) dirty.insert(full.string());
      }
    }
  }

  void FullScan() {
    if (single_file) {
      // The parent may have been removed and recreated (its watch is gone
      // then): watch it again if so; Check stats the file.
      if (inotify.valid()) WatchDir(parent_dir);
      dirty.insert(root);
      return;
    }
    std::set<std::string> seen;
    internal::WalkLogTree(
        root,
        [&](const fs::path& d) {
          if (inotify.valid()) WatchDir(d.string());
        },
        [&](const fs::path& f) { seen.insert(f.string()); });
    for (const auto& [path, file] : files) seen.insert(path);  // vanished ones are noticed too
    dirty.insert(seen.begin(), seen.end());
  }

  void Gather() {
    const auto now = Clock::now();
    DrainInotify();
    if (inotify.valid()) {
      if (need_full_scan || now >= next_full_scan) {
        need_full_scan = false;
        next_full_scan = now + std::chrono::milliseconds(options.rescan_interval_ms);
        FullScan();
      }
    } else if (need_full_scan || now >= next_poll) {
      need_full_scan = false;
      FullScan();
    }
    if (now >= next_poll) {
      next_poll = now + std::chrono::milliseconds(options.poll_interval_ms);
      // gzip files are complete when unchanged across two polls, which no
      // inotify event says; check the pending ones on every poll.
      for (const auto& [path, file] : files) {
        if (file->gz && !file->gz_done) dirty.insert(path);
      }
    }
    std::set<std::string> paths;
    paths.swap(dirty);
    for (const auto& path : paths) Check(path);
  }

  // Classifies what a path now is against what we follow there.
  void Check(const std::string& path) {
    auto it = files.find(path);
    File* known = it == files.end() ? nullptr : it->second.get();
    struct stat st {};
    if (::stat(path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) {
      if (known != nullptr) {
        ++stats.deletions;
        Orphan(it);
      }
      return;
    }
    const auto device = static_cast<uint64_t>(st.st_dev);
    const auto inode = static_cast<uint64_t>(st.st_ino);
    const auto size = static_cast<uint64_t>(st.st_size);
    if (known != nullptr && (known->device != device || known->inode != inode)) {
      ++stats.replacements;
      Orphan(it);
      known = nullptr;
    }
    if (known == nullptr) {
      Discover(path, device, inode, size, st);
      return;
    }
    if (known->gz) {
      CheckGzip(*known, size, MtimeNs(st));
      return;
    }
    if (size < known->read_off) {
      Truncated(*known);
    } else if (size > known->read_off) {
      known->want_read = true;
      known->failed = false;
    }
  }

  void Discover(const std::string& path, uint64_t device, uint64_t inode, uint64_t size, const struct stat& st) {
    auto file = std::make_unique<File>();
    file->path = path;
    file->device = device;
    file->inode = inode;
    file->queued = &queued;
    file->gz = EndsWith(path, ".gz");
    ++stats.files;
    uint64_t offset = 0;
    if (auto r = resume.find(path); r != resume.end()) {
      if (r->second.device == device && r->second.inode == inode) offset = r->second.offset;
      resume.erase(r);
    }
    file->committed = offset;
    if (file->gz) {
      if (offset != 0 && offset == size) {
        file->gz_done = true;  // consumed before the restart
        file->gz_size = size;
      } else {
        CheckGzip(*file, size, MtimeNs(st));
      }
    } else {
      if (offset > size) {
        // Truncated while we were down: read again from 0.
        ++stats.truncations;
        file->Push(Item{std::monostate{}, 0, uint64_t{0}});
        offset = 0;
      }
      file->read_off = offset;
      file->base = offset;
      if (offset != 0) file->line_base.reset();
      file->ResetFramer(read_options);
      file->want_read = size > offset;
    }
    files.emplace(path, std::move(file));
  }

  void Truncated(File& file) {
    ++stats.truncations;
    // What was read of the old content stays valid; its unfinished tail is
    // gone with it (not quarantined: the writer rewrote the file).
    if (!file.items.empty() && !file.items.back().end) file.items.back().end = file.read_off;
    file.Push(Item{std::monostate{}, 0, uint64_t{0}});
    file.read_off = 0;
    file.base = 0;
    file.line_base = 1;
    file.ResetFramer(read_options);
    file.want_read = true;
  }

  void CheckGzip(File& file, uint64_t size, int64_t mtime) {
    if (file.gz_done && size == file.gz_size) return;
    if (file.gz_done) {  // rewritten after we read it: read it again when it settles
      file.gz_done = false;
      file.gz_seen = false;
    }
    if (file.gz_seen && size == file.gz_size && mtime == file.gz_mtime) {
      ReadGzip(file);
      return;
    }
    file.gz_seen = true;
    file.gz_size = size;
    file.gz_mtime = mtime;
  }

  void ReadGzip(File& file) {
    UniqueFd fd(::open(file.path.c_str(), O_RDONLY | O_CLOEXEC));
    struct stat st {};
    if (!fd.valid() || ::fstat(fd.get(), &st) != 0 || static_cast<uint64_t>(st.st_ino) != file.inode ||
        static_cast<uint64_t>(st.st_dev) != file.device) {
      dirty.insert(file.path);  // gone or replaced meanwhile; Check sorts it out
      return;
    }
    GzipCollector collector(file);
    ReadStats read_stats;
    Status status = internal::ReadOpenFile(fd.get(), file.path, read_options, collector, read_stats);
    const off_t end = ::lseek(fd.get(), 0, SEEK_CUR);
    if (!status.ok() || end < 0) {
      file.failed = true;
      file.gz_seen = false;  // try again after the next two polls
      return;
    }
    stats.bytes += static_cast<uint64_t>(end);
    file.Push(Item{std::monostate{}, static_cast<uint64_t>(end), static_cast<uint64_t>(end)});
    file.gz_done = true;
    file.gz_size = static_cast<uint64_t>(end);
  }

  // Stops following `it`: its open descriptor is read to the end, the
  // framer finished (an unfinished tail is quarantined as truncated), and
  // the queue delivered; then it is forgotten.
  void Orphan(std::map<std::string, std::unique_ptr<File>>::iterator it) {
    std::unique_ptr<File> file = std::move(it->second);
    files.erase(it);
    file->orphan = true;
    if (file->gz || !file->fd.valid()) {
      FinishFile(*file);
    } else {
      file->want_read = true;
    }
    orphans.push_back(std::move(file));
  }

  void FinishFile(File& file) {
    if (file.finished) return;
    file.finished = true;
    file.want_read = false;
    if (file.framer) file.framer->Finish();
    if (!file.items.empty() && !file.items.back().end) file.items.back().end = file.read_off;
    file.fd.reset();
  }

  // ----------------------------------------------------------------- fill

  size_t OpenCount() const {
    size_t n = 0;
    for (const auto& [path, file] : files) n += file->fd.valid() ? 1 : 0;
    return n;
  }

  void CloseIdle(const File& keep) {
    while (OpenCount() >= options.max_open_files) {
      File* oldest = nullptr;
      for (const auto& [path, file] : files) {
        if (file.get() == &keep || !file->fd.valid()) continue;
        if (oldest == nullptr || file->lru < oldest->lru) oldest = file.get();
      }
      if (oldest == nullptr) return;
      oldest->fd.reset();
    }
  }

  // Opens `file` if its descriptor was closed; false when it cannot be
  // read now (vanished or replaced: queued for Check).
  bool EnsureOpen(File& file) {
    file.lru = ++lru_tick;
    if (file.fd.valid()) return true;
    if (file.orphan) return false;
    CloseIdle(file);
    UniqueFd fd(::open(file.path.c_str(), O_RDONLY | O_CLOEXEC));
    struct stat st {};
    if (!fd.valid() || ::fstat(fd.get(), &st) != 0) {
      if (errno != ENOENT) file.failed = true;
      file.want_read = false;
      dirty.insert(file.path);
      return false;
    }
    if (static_cast<uint64_t>(st.st_ino) != file.inode || static_cast<uint64_t>(st.st_dev) != file.device) {
      file.want_read = false;
      dirty.insert(file.path);  // replaced while closed
      return false;
    }
    file.fd = std::move(fd);
    return true;
  }

  // Reads `file` until it has no more bytes or the step's budget is spent.
  void ReadSome(File& file, uint64_t& step_bytes) {
    if (!EnsureOpen(file)) {
      if (file.orphan) FinishFile(file);
      return;
    }
    file.snapshot_time = internal::SnapshotTimeOf(file.fd.get());
    const size_t chunk = read_options.chunk_bytes;
    while (queued < options.max_batch_events && step_bytes < options.max_batch_bytes) {
      ssize_t n;
      do {
        n = ::pread(file.fd.get(), buf.data(), chunk, static_cast<off_t>(file.read_off));
      } while (n < 0 && errno == EINTR);
      if (n < 0) {
        file.failed = true;
        file.want_read = false;
        return;
      }
      if (n == 0) {
        file.want_read = false;
        if (file.orphan) FinishFile(file);
        return;
      }
      const auto got = static_cast<size_t>(n);
      const uint64_t chunk_start = file.read_off;
      file.framer->Feed(std::string_view(buf.data(), got), kPadding);
      file.read_off += got;
      step_bytes += got;
      stats.bytes += got;
      // A refused region still open at the back ends at the first newline
      // after it (where the framer resumes), unless a record came first.
      if (!file.items.empty() && !file.items.back().end) {
        const uint64_t from = std::max(chunk_start, file.items.back().start);
        if (from < file.read_off) {
          const char* p = buf.data() + (from - chunk_start);
          const void* nl = std::memchr(p, '\n', static_cast<size_t>(file.read_off - from));
          if (nl != nullptr) {
            file.items.back().end = chunk_start + static_cast<uint64_t>(static_cast<const char*>(nl) - buf.data()) + 1;
          }
        }
      }
    }
  }

  void Fill() {
    uint64_t step_bytes = 0;
    for (auto& file : orphans) {
      if (queued >= options.max_batch_events || step_bytes >= options.max_batch_bytes) return;
      if (!file->finished) ReadSome(*file, step_bytes);
    }
    if (files.empty()) return;
    // Round-robin from where the last step stopped, so one busy file does
    // not starve the others.
    auto start = files.upper_bound(rr_cursor);
    if (start == files.end()) start = files.begin();
    auto it = start;
    do {
      if (queued >= options.max_batch_events || step_bytes >= options.max_batch_bytes) return;
      File& file = *it->second;
      if (file.want_read && !file.gz && !file.failed) {
        rr_cursor = it->first;
        ReadSome(file, step_bytes);
      }
      if (++it == files.end()) it = files.begin();
    } while (it != start);
  }

  bool MoreToRead() const {
    for (const auto& file : orphans) {
      if (!file->finished) return true;
    }
    for (const auto& [path, file] : files) {
      if (file->want_read && !file->gz && !file->failed) return true;
    }
    return false;
  }

  // ------------------------------------------------------------- deliver

  void TakeFrom(File& file, Batch& batch) {
    std::optional<uint64_t> offset;
    while (!file.items.empty() && file.items.front().end) {
      Item& item = file.items.front();
      const bool record = !std::holds_alternative<std::monostate>(item.value);
      if (record && batch.events.size() + batch.quarantined.size() >= options.max_batch_events) break;
      offset = *item.end;
      if (auto* e = std::get_if<Event>(&item.value)) batch.events.push_back(std::move(*e));
      if (auto* q = std::get_if<QuarantineEntry>(&item.value)) batch.quarantined.push_back(std::move(*q));
      if (record) --queued;
      file.items.pop_front();
    }
    if (offset) {
      batch.through.push_back(FileCheckpoint{file.path, file.device, file.inode, *offset});
      batch.commits.push_back(Commit{&file, *offset});
    }
  }

  bool Assemble() {
    // Nothing is in flight here, so drained orphans can go.
    std::erase_if(orphans, [](const std::unique_ptr<File>& f) { return f->finished && f->items.empty(); });
    Batch batch;
    for (auto& file : orphans) TakeFrom(*file, batch);
    for (auto& [path, file] : files) TakeFrom(*file, batch);
    if (batch.through.empty()) return false;
    inflight = std::move(batch);
    return true;
  }

  Result<bool> Deliver() {
    Batch& batch = *inflight;
    const size_t events = batch.events.size();
    const size_t quarantined = batch.quarantined.size();
    Status status = sink.OnBatch(std::move(batch.events), std::move(batch.quarantined), batch.through);
    if (!status.ok()) {
      ++stats.rejected_batches;
      return status;
    }
    for (const Commit& c : batch.commits) c.file->committed = c.offset;
    stats.events += events;
    stats.quarantined += quarantined;
    inflight.reset();
    // Orphans are forgotten once drained and accepted.
    std::erase_if(orphans, [](const std::unique_ptr<File>& f) { return f->finished && f->items.empty(); });
    return true;
  }

  // ---------------------------------------------------------------- wait

  void Wait(int timeout_ms) {
    auto deadline = Clock::now() + std::chrono::milliseconds(std::max(timeout_ms, 0));
    // Wake for the next rescan (polling) or gzip stability check.
    bool gz_pending = false;
    for (const auto& [path, file] : files) gz_pending = gz_pending || (file->gz && !file->gz_done);
    if (!inotify.valid() || gz_pending) deadline = std::min(deadline, next_poll);
    if (inotify.valid()) deadline = std::min(deadline, next_full_scan);
    const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(deadline - Clock::now()).count();
    pollfd fds[2] = {{stop.fd(), POLLIN, 0}, {inotify.get(), POLLIN, 0}};
    const nfds_t n = inotify.valid() ? 2 : 1;
    int rc;
    do {
      rc = ::poll(fds, n, static_cast<int>(std::max<long long>(left, 0)));
    } while (rc < 0 && errno == EINTR);
  }

  Result<bool> Step() {
    Gather();
    Fill();
    if (Assemble()) return Deliver();
    return false;
  }

  Result<bool> RunOnce(int timeout_ms) {
    if (stop.raised()) return false;
    if (!set_up) return Status::InvalidArgument("DirectorySource::RunOnce before Setup");
    if (inflight) return Deliver();
    auto produced = Step();
    if (!produced.ok() || *produced) return produced;
    if (MoreToRead() || !dirty.empty()) return false;  // budget spent on bytes that made no record yet
    Wait(timeout_ms);
    if (stop.raised()) return false;
    return Step();
  }

  void Stop() { stop.Raise(); }

  std::vector<FileCheckpoint> Checkpoints() const {
    std::vector<FileCheckpoint> out;
    out.reserve(files.size());
    for (const auto& [path, file] : files) out.push_back({path, file->device, file->inode, file->committed});
    return out;
  }
};

DirectorySource::DirectorySource(std::string root, DirectorySourceOptions options,
                                 std::vector<FileCheckpoint> resume, SourceSink& sink)
    : impl_(std::make_unique<Impl>(std::move(root), options, std::move(resume), sink)) {}
DirectorySource::~DirectorySource() = default;

Status DirectorySource::Setup() { return impl_->Setup(); }
Result<bool> DirectorySource::RunOnce(int timeout_ms) { return impl_->RunOnce(timeout_ms); }
void DirectorySource::Stop() { impl_->Stop(); }
DirectorySourceStats DirectorySource::Stats() const { return impl_->stats; }
std::vector<FileCheckpoint> DirectorySource::Checkpoints() const { return impl_->Checkpoints(); }

}  // namespace cmkwatch::collector
