// Byte-level constants and helpers of the zip subset hermetic writes and
// reads (docs/format.md). Shared by the writer, the reader and their tests so
// that the layout arithmetic exists exactly once.
#ifndef HERMETIC_SRC_ARCHIVE_ZIP_FORMAT_H_
#define HERMETIC_SRC_ARCHIVE_ZIP_FORMAT_H_

#include <cstdint>
#include <cstring>
#include <string>
#include <string_view>

namespace hermetic::zip {

inline constexpr uint32_t kLocalHeaderSig = 0x04034b50;
inline constexpr uint32_t kDataDescriptorSig = 0x08074b50;
inline constexpr uint32_t kCentralHeaderSig = 0x02014b50;
inline constexpr uint32_t kZip64EndSig = 0x06064b50;
inline constexpr uint32_t kZip64LocatorSig = 0x07064b50;
inline constexpr uint32_t kEndSig = 0x06054b50;

inline constexpr uint64_t kLocalHeaderSize = 30;
inline constexpr uint64_t kCentralHeaderSize = 46;
inline constexpr uint64_t kZip64EndSize = 56;
inline constexpr uint64_t kZip64LocatorSize = 20;
inline constexpr uint64_t kEndSize = 22;
inline constexpr uint64_t kMaxCommentSize = 0xFFFF;

// Bit 3: sizes and CRC follow the data; bit 11: names are UTF-8.
inline constexpr uint16_t kWriterFlags = 0x0808;
inline constexpr uint16_t kEmptyRecordFlags = 0x0800;
inline constexpr uint16_t kFlagEncrypted = 0x0001;
inline constexpr uint16_t kFlagDataDescriptor = 0x0008;
inline constexpr uint16_t kMethodStored = 0;
inline constexpr uint16_t kMethodDeflated = 8;
inline constexpr uint16_t kZip64ExtraId = 0x0001;
inline constexpr uint16_t kPaddingExtraId = 0x4246;  // "FB"
inline constexpr uint8_t kPaddingByte = 'Z';
inline constexpr uint16_t kZip64MadeBy = 0x031E;
inline constexpr uint16_t kZip64Needed = 0x002D;

// A 32-bit field holding this value defers to the zip64 extra / end record.
inline constexpr uint32_t kZip64Marker32 = 0xFFFFFFFF;
inline constexpr uint16_t kZip64Marker16 = 0xFFFF;

// Where one record's pieces land, given its header offset, full name length
// and (uncompressed == stored) size. Mirrors torch's writer: the local zip64
// block appears when the size or the header offset reaches 0xFFFFFFFF and
// holds the sizes and/or the offset, and the "FB" block pads the data start to
// a multiple of `alignment`.
struct LocalLayout {
  bool size_zip64 = false;
  bool offset_zip64 = false;
  uint16_t zip64_extra_payload = 0;  // bytes after the zip64 block header
  uint16_t padding = 0;              // 'Z' bytes after the FB block header
  uint16_t extra_length = 0;         // both blocks, headers included
  uint64_t data_offset = 0;

  bool zip64() const { return size_zip64 || offset_zip64; }
  uint64_t descriptor_size() const { return zip64() ? 24 : 16; }
};

inline LocalLayout ComputeLocalLayout(uint64_t header_offset,
                                      uint64_t name_length, uint64_t size,
                                      uint32_t alignment) {
  LocalLayout l;
  l.size_zip64 = size >= kZip64Marker32;
  l.offset_zip64 = header_offset >= kZip64Marker32;
  if (l.size_zip64) l.zip64_extra_payload += 16;
  if (l.offset_zip64) l.zip64_extra_payload += 8;
  uint64_t start = header_offset + kLocalHeaderSize + name_length + 4;
  if (l.zip64()) start += 4 + l.zip64_extra_payload;
  l.padding =
      static_cast<uint16_t>((alignment - start % alignment) % alignment);
  l.extra_length = static_cast<uint16_t>(
      4 + l.padding + (l.zip64() ? 4 + l.zip64_extra_payload : 0));
  l.data_offset = start + l.padding;
  return l;
}

// Little-endian encoding into a growing string.
inline void Put16(std::string& out, uint16_t v) {
  const char b[2] = {static_cast<char>(v), static_cast<char>(v >> 8)};
  out.append(b, 2);
}
inline void Put32(std::string& out, uint32_t v) {
  Put16(out, static_cast<uint16_t>(v));
  Put16(out, static_cast<uint16_t>(v >> 16));
}
inline void Put64(std::string& out, uint64_t v) {
  Put32(out, static_cast<uint32_t>(v));
  Put32(out, static_cast<uint32_t>(v >> 32));
}

// Little-endian decoding; callers bounds-check before calling.
inline uint16_t Get16(const uint8_t* p) {
  return static_cast<uint16_t>(p[0] | (p[1] << 8));
}
inline uint32_t Get32(const uint8_t* p) {
  return static_cast<uint32_t>(Get16(p)) |
         (static_cast<uint32_t>(Get16(p + 2)) << 16);
}
inline uint64_t Get64(const uint8_t* p) {
  return static_cast<uint64_t>(Get32(p)) |
         (static_cast<uint64_t>(Get32(p + 4)) << 32);
}

// The rule for record names (without the top-level folder) shared by writer,
// reader and extraction: relative, '/'-separated, no empty, "." or ".."
// component, no NUL or backslash. Returns the reason a name is rejected, or
// an empty string when it is acceptable.
std::string_view NameProblem(std::string_view name);

// Strict UTF-8 as Python decodes it: no overlong forms, surrogates or code
// points past U+10FFFF.
bool IsValidUtf8(std::string_view s);

// The length of the valid UTF-8 sequence starting at s[i] (1 for ASCII), or
// 0 if none starts there; `cp` receives its code point.
size_t Utf8SequenceAt(std::string_view s, size_t i, uint32_t* cp);

}  // namespace hermetic::zip

#endif  // HERMETIC_SRC_ARCHIVE_ZIP_FORMAT_H_
