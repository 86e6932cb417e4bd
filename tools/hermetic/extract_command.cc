// hermetic extract ARCHIVE DIR: every record to DIR/<record name>, all or
// nothing.
//
// Two passes: every record is first streamed into a temporary file beside
// its destination (its CRC-32 checked), then the temporaries are renamed
// into place. A failure in either pass removes what this run created (its
// temporaries, the files it added, the directories it made, DIR itself if
// it made it), so a failed extraction leaves DIR as it found it; only a
// failed rename in the second pass, after every record checked, can leave
// an existing file already replaced.
#include <fcntl.h>

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "cli.h"
#include "hermetic/archive.h"
#include "hermetic/posix_file.h"
#include "progress.h"

namespace hermetic::cli {
namespace {

class Extraction {
 public:
  Extraction(ArchiveReader& reader, std::string dir)
      : reader_(reader), dir_(std::move(dir)) {}
  ~Extraction() {
    if (!done_) RollBack();
  }

  Status Run() {
    Result<FileInfo> before = LinkStat(dir_, "checking " + EscapeName(dir_));
    if (!before.ok()) return before.status();
    HERMETIC_RETURN_IF_ERROR(
        MakeDirectory(dir_, 0755, "creating " + EscapeName(dir_)));
    made_root_ = before->kind == FileKind::kMissing;
    HERMETIC_ASSIGN_OR_RETURN(root_, Fd::Open(dir_, O_RDONLY | O_DIRECTORY,
                                              "opening " + EscapeName(dir_)));
    uint64_t total = 0;
    for (const RecordInfo& info : reader_.records()) total += info.size;
    ProgressLine progress("extracting", reader_.records().size(), total);
    for (const RecordInfo& info : reader_.records()) {
      HERMETIC_RETURN_IF_ERROR(Stage(info));
      progress.Advance(info.size);
    }
    progress.Done();
    for (Staged& s : staged_) {
      HERMETIC_ASSIGN_OR_RETURN(const Fd* dir, OpenParent(s.parts, false));
      HERMETIC_RETURN_IF_ERROR(
          RenameAt(*dir, s.temp, s.parts.back(),
                   "renaming the temporary file to " + EscapeName(s.name)));
      s.renamed = true;
    }
    done_ = true;
    return Status::Ok();
  }

 private:
  struct Staged {
    std::string name;                // the record
    std::vector<std::string> parts;  // its path below DIR
    std::string temp;                // the temporary beside the leaf
    bool existed = false;            // the leaf was there before
    bool renamed = false;
  };

  Status Refuse(const std::string& name, const std::string& why) const {
    return Status::Corrupt("refusing to extract " + EscapeName(name) +
                           " into " + EscapeName(dir_) + ": " + why);
  }

  // The directory holding parts.back(), entered from the root without
  // following a symbolic link (O_NOFOLLOW at every level); with `create`,
  // missing levels are made (and remembered for the roll-back). The last
  // one opened is kept, as records of one folder usually come together.
  Result<const Fd*> OpenParent(const std::vector<std::string>& parts,
                               bool create) {
    std::vector<std::string> path(parts.begin(), parts.end() - 1);
    if (path.empty()) return &root_;
    if (held_.valid() && held_path_ == path) return &held_;
    held_ = Fd();
    Fd cur;
    std::string below;
    for (size_t i = 0; i < path.size(); ++i) {
      const Fd& parent = cur.valid() ? cur : root_;
      if (i > 0) below += '/';
      below += path[i];
      if (create) {
        Result<FileInfo> st = StatAt(parent, path[i], {});
        if (st.ok() && st->kind == FileKind::kMissing) {
          HERMETIC_RETURN_IF_ERROR(
              MakeDirectoryAt(parent, path[i], 0755,
                              "creating directory " + EscapeName(below)));
          made_dirs_.emplace_back(path.begin(), path.begin() + i + 1);
        }
      }
      Result<Fd> next =
          Fd::OpenAt(parent, path[i], O_RDONLY | O_DIRECTORY | O_NOFOLLOW, {});
      if (!next.ok()) {
        // Built by appending: GCC 12 misreads "'" + string (-Wrestrict).
        std::string why(1, '\'');
        why.append(EscapeName(below))
            .append("' is a symbolic link or not a directory");
        return Status::Corrupt(std::move(why));
      }
      cur = std::move(*next);
    }
    held_ = std::move(cur);
    held_path_ = std::move(path);
    return &held_;
  }

  // Streams one record into a temporary file beside its destination; a
  // symbolic link or a directory at the destination is refused.
  Status Stage(const RecordInfo& info) {
    // The reader refuses such names already; extraction does not rely on it.
    if (!CheckRecordName(info.name).ok()) {
      return Refuse(info.name, "unsafe path");
    }
    Staged s;
    s.name = info.name;
    for (size_t start = 0;;) {
      size_t slash = info.name.find('/', start);
      s.parts.push_back(info.name.substr(start, slash - start));
      if (slash == std::string::npos) break;
      start = slash + 1;
    }
    Result<const Fd*> dir = OpenParent(s.parts, true);
    if (!dir.ok()) {
      if (dir.status().code() == StatusCode::kCorruptArchive) {
        return Refuse(info.name, dir.status().message());
      }
      return dir.status();
    }
    const std::string& leaf = s.parts.back();
    const std::string name = EscapeName(info.name);
    Result<FileInfo> existing = StatAt(**dir, leaf, {});
    if (existing.ok()) {
      if (existing->kind == FileKind::kSymlink) {
        return Refuse(info.name, "it is a symbolic link");
      }
      if (existing->kind == FileKind::kDirectory) {
        return Refuse(info.name, "it is a directory");
      }
      s.existed = existing->kind != FileKind::kMissing;
    }
    // A name taken (even by an extracted record) is skipped.
    HERMETIC_ASSIGN_OR_RETURN(
        Fd out, CreateTempFileAt(**dir, ".hermetic-extract-", 0644, &s.temp,
                                 "creating a temporary file for " + name));
    staged_.push_back(s);
    const std::string writing = "writing " + name;
    HERMETIC_RETURN_IF_ERROR(
        reader_.Stream(info.name, [&](std::span<const uint8_t> piece) {
          return WriteFull(out, piece, writing);
        }));
    return out.Close(writing);
  }

  // Best effort: what cannot be removed (a directory someone else filled
  // meanwhile) stays.
  void RollBack() {
    for (auto it = staged_.rbegin(); it != staged_.rend(); ++it) {
      if (it->renamed && it->existed) continue;
      Result<const Fd*> dir = OpenParent(it->parts, false);
      if (!dir.ok()) continue;
      (void)UnlinkAt(**dir, it->renamed ? it->parts.back() : it->temp, {});
    }
    for (auto it = made_dirs_.rbegin(); it != made_dirs_.rend(); ++it) {
      Result<const Fd*> dir = OpenParent(*it, false);
      if (dir.ok()) (void)RemoveDirectoryAt(**dir, it->back(), {});
    }
    held_ = Fd();
    root_ = Fd();
    if (made_root_) (void)RemoveDirectory(dir_, {});
  }

  ArchiveReader& reader_;
  const std::string dir_;
  Fd root_;
  bool made_root_ = false;
  bool done_ = false;
  // Directories made below DIR (their path), in creation order.
  std::vector<std::vector<std::string>> made_dirs_;
  std::vector<Staged> staged_;
  Fd held_;
  std::vector<std::string> held_path_;
};

}  // namespace

int Extract(const std::vector<std::string>& args) {
  static const ArgSpec kSpec{.command = "extract",
                             .flags = {},
                             .options = {},
                             .required = {"ARCHIVE", "DIR"},
                             .optional = {}};
  std::optional<Args> a = ParseArgs(args, kSpec);
  if (!a) return kExitUsage;
  auto reader = ArchiveReader::OpenPath(a->positional[0]);
  if (!reader.ok()) return Fail(reader.status());
  Extraction extraction(**reader, a->positional[1]);
  Status s = extraction.Run();
  return s.ok() ? kExitOk : Fail(s);
}

}  // namespace hermetic::cli
