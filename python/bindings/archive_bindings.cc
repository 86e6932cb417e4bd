// hermetic._core.ArchiveWriter / ArchiveReader / RecordInfo (see _core.pyi).
//
// Every call that touches the C++ objects releases the GIL first and then
// takes the object's mutex: Python sinks re-acquire the GIL from inside the
// writer, so taking the mutex while holding the GIL could deadlock.
#include <Python.h>
#include <nanobind/ndarray.h>
#include <nanobind/stl/optional.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include <algorithm>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <new>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "bindings.h"
#include "hermetic/archive.h"
#include "hermetic/posix_file.h"

namespace hermetic::python {
namespace {

bool IsPathLike(nb::handle obj) {
  return nb::isinstance<nb::str>(obj) || nb::hasattr(obj, "__fspath__");
}

// The path's bytes, as the OS takes them (names that are not UTF-8 too).
std::string FsPath(nb::handle obj) {
  nb::module_ os = nb::module_::import_("os");
  nb::bytes path(os.attr("fsencode")(os.attr("fspath")(obj)));
  return {path.c_str(), path.size()};
}

// A writer target that is a Python object with write() (and maybe flush()).
class PySink : public ByteSink {
 public:
  explicit PySink(nb::object target) : target_(std::move(target)) {}
  ~PySink() override {
    nb::gil_scoped_acquire gil;
    target_.reset();
  }

  Status Write(std::span<const uint8_t> bytes) override {
    return Call("write", bytes);
  }
  Status Flush() override { return Call("flush", std::nullopt); }

 private:
  Status Call(const char* method,
              std::optional<std::span<const uint8_t>> bytes) {
    nb::gil_scoped_acquire gil;
    try {
      if (!bytes) {
        if (nb::hasattr(target_, method)) target_.attr(method)();
        return Status::Ok();
      }
      target_.attr(method)(nb::bytes(
          reinterpret_cast<const char*>(bytes->data()), bytes->size()));
      return Status::Ok();
    } catch (nb::python_error& e) {
      return Status::IOError(std::string("archive target ") + method +
                             "() failed: " + e.what());
    }
  }

  nb::object target_;
};

// Serialises calls from several Python threads with a mutex taken after the
// GIL is released: a Python sink re-takes the GIL from inside the writer, so
// waiting for the mutex with the GIL held could deadlock.
class PyArchiveWriter {
  // First: its deduced return type is needed below.
  template <typename F>
  auto Locked(F&& f) {
    nb::gil_scoped_release nogil;
    std::lock_guard lock(mu_);
    return f(*writer_);
  }

 public:
  PyArchiveWriter(nb::object target, bool compute_crc32, int deflate_level) {
    WriterOptions options;
    options.compute_crc32 = compute_crc32;
    options.deflate_level = deflate_level;
    writer_ = OpenArchiveWriter(std::move(target), options);
  }

  // Fixed at open, so no lock is needed.
  const std::string& archive_name() const { return writer_->archive_name(); }

  void WriteRecord(const std::string& name, nb::handle data, bool compress) {
    auto buf = PyBuffer::Get(data);
    const Compression how =
        compress ? Compression::kDeflate : Compression::kStored;
    ThrowIfError(Locked([&](ArchiveWriter& w) {
      return w.WriteRecord(name, buf->span(), how);
    }));
  }
  void BeginRecord(const std::string& name) {
    ThrowIfError(Locked([&](ArchiveWriter& w) { return w.BeginRecord(name); }));
  }
  void Append(nb::handle piece) {
    auto buf = PyBuffer::Get(piece);
    ThrowIfError(
        Locked([&](ArchiveWriter& w) { return w.Append(buf->span()); }));
  }
  void EndRecord() {
    ThrowIfError(Locked([](ArchiveWriter& w) { return w.EndRecord(); }));
  }
  bool HasRecord(const std::string& name) {
    return Locked([&](ArchiveWriter& w) { return w.HasRecord(name); });
  }
  std::vector<std::string> RecordNames() {
    return Locked([](ArchiveWriter& w) { return w.RecordNames(); });
  }
  void Finish() {
    ThrowIfError(Locked([](ArchiveWriter& w) { return w.Finish(); }));
  }
  void Abort() {
    Locked([](ArchiveWriter& w) { w.Abort(); });
  }
  bool finished() {
    return Locked([](ArchiveWriter& w) { return w.finished(); });
  }

 private:
  std::mutex mu_;
  std::unique_ptr<ArchiveWriter> writer_;
};

// A seekable Python binary file object (fsspec files included) as the
// bytes of an archive, read with seek() and readinto() (read() if it has
// none). Calls come from GIL-released reader code, possibly on several
// threads: the object's position is shared, so a mutex (taken without the
// GIL, which a blocking readinto may release) makes seek and read one step.
class PyFileSource : public RandomAccessSource {
 public:
  // Must hold the GIL. `display` names the file in errors.
  PyFileSource(nb::object file, std::string display)
      : file_(std::move(file)), display_(std::move(display)) {
    size_ = nb::cast<uint64_t>(file_.attr("seek")(0, 2));
    readinto_ = nb::hasattr(file_, "readinto");
    // An fsspec file: its filesystem fetches many ranges concurrently.
    if (nb::hasattr(file_, "fs") && nb::hasattr(file_, "path") &&
        nb::hasattr(file_.attr("fs"), "cat_ranges")) {
      cat_ranges_ = file_.attr("fs").attr("cat_ranges");
      path_ = file_.attr("path");
    }
  }
  ~PyFileSource() override {
    nb::gil_scoped_acquire gil;
    cat_ranges_.reset();
    path_.reset();
    deferred_.reset();
    file_.reset();
  }

  // Through fsspec's cat_ranges where there is one (HTTP and object stores
  // fetch the ranges at once), else one by one. A range that failed gets
  // nothing: the reader reads it again with ReadAt, which names the error.
  std::vector<size_t> ReadRanges(
      std::span<const uint64_t> offsets,
      std::span<const std::span<uint8_t>> out) override {
    {
      nb::gil_scoped_acquire gil;
      if (!cat_ranges_.is_valid()) {
        nb::gil_scoped_release nogil;
        return RandomAccessSource::ReadRanges(offsets, out);
      }
    }
    std::vector<size_t> got(out.size(), 0);
    nb::gil_scoped_acquire gil;
    try {
      nb::list paths, starts, ends;
      for (size_t i = 0; i < out.size(); ++i) {
        paths.append(path_);
        starts.append(offsets[i]);
        ends.append(offsets[i] + out[i].size());
      }
      nb::object pieces =
          cat_ranges_(paths, starts, ends, nb::arg("on_error") = "return");
      size_t i = 0;
      for (nb::handle piece : pieces) {
        if (i == out.size()) break;
        if (PyBytes_Check(piece.ptr())) {
          const size_t n = std::min<size_t>(
              static_cast<size_t>(PyBytes_GET_SIZE(piece.ptr())),
              out[i].size());
          if (n > 0)
            std::memcpy(out[i].data(), PyBytes_AS_STRING(piece.ptr()), n);
          got[i] = n;
        }
        ++i;
      }
    } catch (nb::python_error& e) {
      // Nothing prefetched; the reads that follow report what is wrong,
      // the first of them a KeyboardInterrupt or the like itself.
      std::fill(got.begin(), got.end(), 0);
      if (!e.matches(PyExc_Exception)) deferred_.emplace(std::move(e));
    }
    return got;
  }

  uint64_t Size() const override { return size_; }

  Result<size_t> ReadAt(uint64_t offset, std::span<uint8_t> out) override {
    nb::gil_scoped_acquire gil;
    std::unique_lock<std::mutex> lock(mu_, std::defer_lock);
    {
      nb::gil_scoped_release nogil;
      lock.lock();
    }
    if (deferred_) {
      Status interrupted = StatusFromPythonError(std::move(*deferred_));
      deferred_.reset();
      return interrupted;
    }
    try {
      file_.attr("seek")(offset);
      size_t got = 0;
      while (got < out.size()) {
        const size_t n =
            readinto_ ? ReadInto(out.subspan(got)) : ReadCopy(out.subspan(got));
        if (n == 0) break;  // the end of the file
        got += n;
      }
      return got;
    } catch (nb::python_error& e) {
      // KeyboardInterrupt and the like are re-raised as they are.
      if (!e.matches(PyExc_Exception))
        return StatusFromPythonError(std::move(e));
      // The exception's type and text (what() would add its traceback).
      return Failed(offset, out.size(),
                    nb::cast<std::string>(nb::str(e.type().attr("__name__"))) +
                        ": " + nb::cast<std::string>(nb::str(e.value())));
    } catch (const nb::cast_error&) {
      return Failed(offset, out.size(), "readinto() returned a non-integer");
    }
  }

 private:
  Status Failed(uint64_t offset, size_t size, std::string_view why) const {
    return Status::IOError("archive " + display_ + ": reading " +
                           std::to_string(size) + " bytes at offset " +
                           std::to_string(offset) +
                           " failed: " + std::string(why));
  }
  size_t ReadInto(std::span<uint8_t> out) {
    nb::object view = nb::steal(PyMemoryView_FromMemory(
        reinterpret_cast<char*>(out.data()),
        static_cast<Py_ssize_t>(out.size()), PyBUF_WRITE));
    if (!view.is_valid()) throw nb::python_error();
    // The memoryview must not outlive `out` (a traceback could keep it):
    // released whatever readinto did.
    nb::object n;
    try {
      n = file_.attr("readinto")(view);
    } catch (nb::python_error&) {
      view.attr("release")();
      throw;
    }
    view.attr("release")();
    if (n.is_none()) return 0;  // a non-blocking stream with nothing ready
    return Checked(nb::cast<int64_t>(n), out.size());
  }
  size_t ReadCopy(std::span<uint8_t> out) {
    auto buf = PyBuffer::Get(file_.attr("read")(out.size()));
    std::span<const uint8_t> got = buf->span();
    const size_t n = Checked(static_cast<int64_t>(got.size()), out.size());
    if (n > 0) std::memcpy(out.data(), got.data(), n);
    return n;
  }
  size_t Checked(int64_t n, size_t asked) const {
    if (n < 0 || static_cast<uint64_t>(n) > asked) {
      PyErr_SetString(PyExc_ValueError,
                      ("read " + std::to_string(n) + " bytes of " +
                       std::to_string(asked) + " asked")
                          .c_str());
      throw nb::python_error();
    }
    return static_cast<size_t>(n);
  }

  nb::object file_;
  nb::object cat_ranges_;  // the fsspec filesystem's, if any
  nb::object path_;
  // An exception that is not an Exception, met by ReadRanges, which cannot
  // report it: the next ReadAt does.
  std::optional<nb::python_error> deferred_;
  std::string display_;
  uint64_t size_ = 0;
  bool readinto_ = false;
  std::mutex mu_;
};

// A descriptor of its own for a Python file object that is a regular
// local file (which a reader maps rather than reads through Python), else
// an empty Fd.
Fd RegularFileCopy(nb::handle file, const std::string& display) {
  if (!nb::hasattr(file, "fileno")) return Fd();
  int fd = -1;
  try {
    fd = nb::cast<int>(file.attr("fileno")());
  } catch (nb::python_error&) {  // io.BytesIO and the like: no descriptor
    return Fd();
  } catch (nb::cast_error&) {
    return Fd();
  }
  if (fd < 0) return Fd();
  Fd borrowed(fd);  // the object's: released, never closed, below
  Result<FileInfo> info = StatOpen(borrowed, {});
  Result<Fd> copy = Fd();
  if (info.ok() && info->kind == FileKind::kRegular) {
    copy = borrowed.Duplicate("cannot duplicate the descriptor of " + display);
  }
  borrowed.release();
  return ValueOrRaise(std::move(copy));
}

// A memoryview of `bytes` that keeps `owner` alive.
template <typename Owner>
nb::object MemoryView(std::span<uint8_t> bytes,
                      const std::shared_ptr<Owner>& owner) {
  auto* keep = new std::shared_ptr<Owner>(owner);
  nb::capsule capsule(keep, [](void* p) noexcept {
    delete static_cast<std::shared_ptr<Owner>*>(p);
  });
  size_t shape[1] = {bytes.size()};
  return nb::ndarray<nb::memview, uint8_t, nb::ndim<1>>(bytes.data(), 1, shape,
                                                        capsule)
      .cast();
}

// Owned through a shared_ptr so that memoryviews from view() keep the map
// alive after the Python object is collected.
struct SharedRecordMap {
  std::mutex mu;
  std::unique_ptr<RecordMap> map;
};

class PyRecordMap {
 public:
  // `check_crc`: whether the map hashes records on View (the reader's
  // verify_crc option).
  PyRecordMap(std::unique_ptr<RecordMap> map, bool check_crc)
      : shared_(std::make_shared<SharedRecordMap>()) {
    shared_->map = std::move(map);
    memory_ = shared_->map->memory();
    if (!memory_.empty()) whole_ = MemoryView(memory_, shared_);
    // Views of one block are pointer arithmetic, cheaper than releasing the
    // GIL; copies, file maps and CRCs are not.
    cheap_views_ = !memory_.empty() && !check_crc;
  }

  nb::object View(const NameArg& arg) {
    const std::string& name = arg.bytes;
    SharedRecordMap& shared = *shared_;
    auto view = [&] {
      std::lock_guard lock(shared.mu);
      return shared.map->View(name);
    };
    Result<std::span<uint8_t>> result = [&] {
      if (cheap_views_) return view();
      nb::gil_scoped_release nogil;
      return view();
    }();
    std::span<uint8_t> bytes = ValueOrRaise(std::move(result));
    if (!whole_.is_valid() || bytes.empty()) return MemoryView(bytes, shared_);
    // A slice of the block's memoryview costs a tenth of a new exported
    // array, which matters for thousands of small tensors.
    const auto start = static_cast<Py_ssize_t>(bytes.data() - memory_.data());
    nb::object slice = nb::steal(PySlice_New(
        nb::int_(start).ptr(),
        nb::int_(start + static_cast<Py_ssize_t>(bytes.size())).ptr(),
        nullptr));
    if (!slice.is_valid()) throw nb::python_error();
    return whole_[slice];
  }

 private:
  std::shared_ptr<SharedRecordMap> shared_;
  std::span<uint8_t> memory_;
  nb::object whole_;  // memoryview of memory_, if not empty
  bool cheap_views_ = false;
};

// Owned through a shared_ptr so that memoryviews from view() keep the
// mapping alive after the Python reader is closed or collected.
struct SharedReader {
  std::mutex mu;
  std::unique_ptr<ArchiveReader> reader;
};

class PyArchiveReader {
  // Helpers first: their deduced return types are needed below.
  template <typename F>
  static std::unique_ptr<ArchiveReader> Open(F&& open) {
    Result<std::unique_ptr<ArchiveReader>> r = [&] {
      nb::gil_scoped_release nogil;
      return open();
    }();
    return ValueOrRaise(std::move(r));
  }

  ArchiveReader& Reader() {
    if (shared_ == nullptr) {
      RaiseStatus(Status::FailedPrecondition("archive reader is closed"));
    }
    return *shared_->reader;
  }

  Status OutOfMemory(std::string_view record, std::string_view what) {
    std::string where = "archive " + Reader().display_name();
    if (!record.empty()) where.append(", record ").append(record);
    return Status::ResourceExhausted(where + ": out of memory " +
                                     std::string(what));
  }
  // An uninitialised bytes object of `size` bytes to fill, or
  // ResourceLimitError naming the record.
  nb::bytes NewBytes(const std::string& name, uint64_t size) {
    const std::string what = "for " + std::to_string(size) + " bytes";
    if (size > static_cast<uint64_t>(PY_SSIZE_T_MAX)) {
      RaiseStatus(OutOfMemory(name, what));
    }
    nb::bytes out = nb::steal<nb::bytes>(
        PyBytes_FromStringAndSize(nullptr, static_cast<Py_ssize_t>(size)));
    if (!out.is_valid()) {
      if (!PyErr_ExceptionMatches(PyExc_MemoryError)) throw nb::python_error();
      PyErr_Clear();
      RaiseStatus(OutOfMemory(name, what));
    }
    return out;
  }

  // f(reader) with the GIL released; `record` (empty for the whole archive
  // or several records) is what the call is about, named in its errors.
  template <typename F>
  auto Run(std::string_view record, F&& f) {
    ArchiveReader& reader = Reader();
    SharedReader& shared = *shared_;
    bool out_of_memory = false;
    auto result = [&]() -> decltype(f(reader)) {
      nb::gil_scoped_release nogil;
      std::lock_guard lock(shared.mu);
      try {
        return f(reader);
      } catch (const std::bad_alloc&) {
        out_of_memory = true;
        return Status::Internal("");
      }
    }();
    if (out_of_memory) RaiseStatus(OutOfMemory(record, "while reading"));
    if (!result.ok()) RaiseStatus(NamingRecord(result.status(), record));
    return std::move(result).value();
  }

  // An error about one record names it, whichever layer of the reader
  // reported it (an I/O error may only know the file).
  static Status NamingRecord(const Status& status, std::string_view record) {
    if (record.empty() ||
        status.message().find("record " + std::string(record)) !=
            std::string::npos) {
      return status;
    }
    return Status(status.code(),
                  status.message() + " (record " + std::string(record) + ")");
  }

  template <typename F>
  void RunStatus(std::string_view record, F&& f) {
    Run(record, [&](ArchiveReader& r) -> Result<bool> {
      Status s = f(r);
      if (!s.ok()) return s;
      return true;
    });
  }

 public:
  // f(reader) as every method runs it (GIL released, reader locked, its
  // error raised), for the bindings of components that read archives.
  void RunOnReader(const std::function<Status(ArchiveReader&)>& f) {
    RunStatus("", f);
  }

  PyArchiveReader(nb::object source, bool verify_crc)
      : verify_crc_(verify_crc) {
    ReaderOptions options;
    options.verify_views = verify_crc;
    auto shared = std::make_shared<SharedReader>();
    if (IsPathLike(source)) {
      std::string path = FsPath(source);
      shared->reader =
          Open([&] { return ArchiveReader::OpenPath(path, options); });
    } else if (PyObject_CheckBuffer(source.ptr())) {
      auto buf = PyBuffer::Get(source);
      std::span<const uint8_t> bytes = buf->span();
      shared->reader = Open([&] {
        return ArchiveReader::OpenBuffer(bytes, std::move(buf), "<buffer>",
                                         options);
      });
    } else {
      shared->reader = OpenFileObject(std::move(source), options);
    }
    shared_ = std::move(shared);
  }

  // A file object: a local file is mapped (its descriptor duplicated), a
  // seekable one read through seek/readinto as records are asked for, any
  // other read whole.
  static std::unique_ptr<ArchiveReader> OpenFileObject(
      nb::object file, const ReaderOptions& options) {
    if (!nb::hasattr(file, "read")) {
      throw nb::type_error(
          "ArchiveReader source must be a path, a bytes-like object or "
          "have a read() method");
    }
    // Errors name the file: its name, or an fsspec file's URL.
    std::string display = "<file>";
    for (const char* attribute : {"name", "full_name"}) {
      if (!nb::hasattr(file, attribute)) continue;
      nb::object text = nb::str(file.attr(attribute));
      nb::bytes raw(text.attr("encode")("utf-8", "surrogateescape"));
      display.assign(raw.c_str(), raw.size());
      break;
    }
    if (Fd own = RegularFileCopy(file, display); own.valid()) {
      return Open([&] {
        return ArchiveReader::OpenFile(std::move(own), display, options);
      });
    }
    bool seekable = false;
    if (nb::hasattr(file, "seekable")) {
      seekable = nb::cast<bool>(file.attr("seekable")());
    }
    if (seekable) {
      std::shared_ptr<PyFileSource> source;
      try {
        source = std::make_shared<PyFileSource>(std::move(file), display);
      } catch (nb::python_error& e) {
        if (!e.matches(PyExc_Exception)) throw;
        RaiseStatus(Status::IOError(
            "archive " + display +
            ": cannot find its size (seek to the end failed): " +
            nb::cast<std::string>(nb::str(e.value()))));
      }
      return Open([&] {
        return ArchiveReader::OpenSource(std::move(source), display, options);
      });
    }
    auto buf = PyBuffer::Get(file.attr("read")());
    std::span<const uint8_t> bytes = buf->span();
    return Open([&] {
      return ArchiveReader::OpenBuffer(bytes, std::move(buf), display, options);
    });
  }

  nb::str prefix() { return NameStr(Reader().prefix()); }
  nb::str name() { return NameStr(Reader().display_name()); }
  bool is_directory() { return Reader().is_directory(); }

  nb::list Records() {
    nb::list out;
    for (const RecordInfo& r : Reader().records()) out.append(NameStr(r.name));
    return out;
  }
  std::vector<RecordInfo> RecordInfos() { return Reader().records(); }
  bool HasRecord(const NameArg& name) {
    return Reader().Find(name.bytes) != nullptr;
  }

  // Reads straight into a fresh bytes object: one copy, GIL released.
  nb::bytes Read(const NameArg& arg) {
    const std::string& name = arg.bytes;
    const RecordInfo* info = Reader().Find(name);
    // The core names the missing record in its NotFound status.
    if (info == nullptr) RaiseStatus(Reader().ReadInto(name, {}));
    if (info->method != 0) {
      // A deflated record's size is only declared: the core inflates into
      // memory that grows with the real output and refuses past its limit,
      // where allocating the declared size up front would let the archive
      // choose how much memory we ask for.
      std::vector<uint8_t> bytes =
          Run(name, [&](ArchiveReader& r) { return r.Read(name); });
      nb::bytes out = NewBytes(name, bytes.size());
      if (!bytes.empty()) {
        std::memcpy(PyBytes_AS_STRING(out.ptr()), bytes.data(), bytes.size());
      }
      return out;
    }
    nb::bytes out = NewBytes(name, info->size);
    std::span<uint8_t> dest(
        reinterpret_cast<uint8_t*>(PyBytes_AS_STRING(out.ptr())), info->size);
    RunStatus(name, [&](ArchiveReader& r) { return r.ReadInto(name, dest); });
    return out;
  }

  nb::object View(const NameArg& arg) {
    const std::string& name = arg.bytes;
    return MemoryView(Run(name, [&](ArchiveReader& r) { return r.View(name); }),
                      shared_);
  }

  PyRecordMap MapRecords(const NameArg& arg) {
    const std::string& prefix = arg.bytes;
    return PyRecordMap(
        Run("", [&](ArchiveReader& r) { return r.MapRecords(prefix); }),
        verify_crc_);
  }

  void Verify(std::optional<NameArg> name) {
    RunStatus(name ? name->bytes : "", [&](ArchiveReader& r) {
      return name ? r.Verify(name->bytes) : r.VerifyAll();
    });
  }

  void Close() { shared_.reset(); }

 private:
  bool verify_crc_;
  std::shared_ptr<SharedReader> shared_;
};

}  // namespace

std::unique_ptr<ArchiveWriter> OpenArchiveWriter(nb::object target,
                                                 const WriterOptions& options) {
  if (IsPathLike(target)) {
    std::string path = FsPath(target);
    return ValueOrRaise(ArchiveWriter::OpenFile(path, options));
  }
  if (nb::hasattr(target, "write")) {
    return ValueOrRaise(ArchiveWriter::OpenSink(
        std::make_unique<PySink>(std::move(target)), options));
  }
  throw nb::type_error(
      "ArchiveWriter target must be a path or have a write() method");
}

void RunOnArchiveReader(nb::handle reader,
                        const std::function<Status(ArchiveReader&)>& f) {
  nb::cast<PyArchiveReader&>(reader).RunOnReader(f);
}

void BindArchive(nb::module_& m) {
  m.attr("DEFAULT_DEFLATE_LEVEL") = kDefaultDeflateLevel;
  nb::class_<RecordInfo>(m, "RecordInfo")
      .def_prop_ro("name", [](const RecordInfo& r) { return NameStr(r.name); })
      .def_ro("header_offset", &RecordInfo::header_offset)
      .def_ro("data_offset", &RecordInfo::data_offset)
      .def_ro("size", &RecordInfo::size)
      .def_ro("compressed_size", &RecordInfo::compressed_size)
      .def_ro("crc32", &RecordInfo::crc32)
      .def_ro("method", &RecordInfo::method)
      .def("__repr__", [](const RecordInfo& r) {
        return NameStr("RecordInfo(name=" + r.name +
                       ", size=" + std::to_string(r.size) +
                       ", data_offset=" + std::to_string(r.data_offset) + ")");
      });

  nb::class_<PyArchiveWriter>(m, "ArchiveWriter")
      .def(nb::init<nb::object, bool, int>(), nb::arg("target"), nb::kw_only(),
           nb::arg("compute_crc32") = true, nb::arg("deflate_level") = 0)
      .def_prop_ro("archive_name", &PyArchiveWriter::archive_name)
      .def("write_record", &PyArchiveWriter::WriteRecord, nb::arg("name"),
           nb::arg("data"), nb::kw_only(), nb::arg("compress") = false)
      .def("begin_record", &PyArchiveWriter::BeginRecord, nb::arg("name"))
      .def("append", &PyArchiveWriter::Append, nb::arg("piece"))
      .def("end_record", &PyArchiveWriter::EndRecord)
      .def("has_record", &PyArchiveWriter::HasRecord, nb::arg("name"))
      .def("record_names", &PyArchiveWriter::RecordNames)
      .def("finish", &PyArchiveWriter::Finish)
      .def("abort", &PyArchiveWriter::Abort)
      .def_prop_ro("finished", &PyArchiveWriter::finished);

  nb::class_<PyRecordMap>(m, "RecordMap")
      .def("view", &PyRecordMap::View, nb::arg("name"));

  nb::class_<PyArchiveReader>(m, "ArchiveReader")
      .def(nb::init<nb::object, bool>(), nb::arg("source"), nb::kw_only(),
           nb::arg("verify_crc") = false)
      .def_prop_ro("prefix", &PyArchiveReader::prefix)
      .def_prop_ro("name", &PyArchiveReader::name)
      .def_prop_ro("is_directory", &PyArchiveReader::is_directory)
      .def("records", &PyArchiveReader::Records)
      .def("record_infos", &PyArchiveReader::RecordInfos)
      .def("has_record", &PyArchiveReader::HasRecord, nb::arg("name"))
      .def("read", &PyArchiveReader::Read, nb::arg("name"))
      .def("view", &PyArchiveReader::View, nb::arg("name"))
      .def("map_records", &PyArchiveReader::MapRecords, nb::arg("prefix") = "")
      .def("verify", &PyArchiveReader::Verify, nb::arg("name") = nb::none())
      .def("close", &PyArchiveReader::Close);
}

}  // namespace hermetic::python
