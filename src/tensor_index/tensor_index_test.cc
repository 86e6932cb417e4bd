#include "hermetic/tensor_index.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cstdint>
#include <initializer_list>
#include <string>
#include <vector>

// GCC 12 reports "literal" + std::string as an overlapping memcpy (its bug
// 105329); the pickle pieces below are built that way throughout.
#pragma GCC diagnostic ignored "-Wrestrict"

namespace hermetic {
namespace {

using ::testing::ElementsAre;
using ::testing::HasSubstr;

// BINPUT 0 and BINGET 0 (a NUL byte each: not C strings).
const std::string kPut0("q\0", 2);
const std::string kGet0("h\0", 2);

// Pickle pieces, written as torch.package's pickler (protocol 3) would.
std::string Str(std::string_view s) {
  std::string out = "X";
  for (int i = 0; i < 4; ++i)
    out += static_cast<char>((s.size() >> (8 * i)) & 0xff);
  return out.append(s);
}
std::string Int(int32_t v) {
  std::string out = "J";
  for (int i = 0; i < 4; ++i) {
    out += static_cast<char>((static_cast<uint32_t>(v) >> (8 * i)) & 0xff);
  }
  return out;
}
std::string Global(std::string_view module, std::string_view name) {
  std::string out = "c";
  out.append(module).append("\n").append(name).append("\n");
  return out;
}
std::string Ints(std::initializer_list<int32_t> values) {
  std::string out = "(";
  for (int32_t v : values) out += Int(v);
  return out + "t";
}
std::string Storage(std::string_view type, int32_t key, int32_t numel) {
  std::string out = "(";
  out.append(Str("storage"))
      .append(Global("torch", type))
      .append(Int(key))
      .append(Str("cpu"))
      .append(Int(numel))
      .append("tQ");
  return out;
}
std::string Tensor(const std::string& storage, int32_t offset,
                   std::initializer_list<int32_t> shape,
                   std::initializer_list<int32_t> stride,
                   std::string_view requires_grad = "\x89") {
  return Global("torch._utils", "_rebuild_tensor_v2") + "(" + storage +
         Int(offset) + Ints(shape) + Ints(stride) + std::string(requires_grad) +
         Global("collections", "OrderedDict") + ")Rt" + "R";
}
std::string Parameter(const std::string& tensor) {
  return Global("torch._utils", "_rebuild_parameter") + "(" + tensor + "\x88" +
         Global("collections", "OrderedDict") + ")Rt" + "R";
}
std::string Dict(
    std::initializer_list<std::pair<std::string_view, std::string>> items) {
  std::string out = "}(";
  for (const auto& [key, value] : items) out += Str(key) + value;
  return out + "u";
}
std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}
Result<TensorIndex> Index(const std::string& body,
                          const TensorIndexOptions& options = {}) {
  static std::string keep;
  keep = "\x80\x03" + body + ".";
  return IndexTensors(Bytes(keep), options);
}

TEST(TensorIndexTest, ReadsATensorsStorageDtypeShapeAndStride) {
  Result<TensorIndex> index = Index(
      Dict({{"w", Tensor(Storage("FloatStorage", 0, 12), 2, {2, 3}, {3, 1})}}));
  ASSERT_TRUE(index.ok()) << index.status().message();
  ASSERT_EQ(index->tensors.size(), 1u);
  const TensorInfo& t = index->tensors[0];
  EXPECT_TRUE(t.known) << t.unknown_reason;
  EXPECT_EQ(t.name, "w");
  EXPECT_EQ(t.storage_type, "torch.FloatStorage");
  EXPECT_EQ(t.dtype, "float32");
  EXPECT_EQ(t.itemsize, 4u);
  EXPECT_EQ(t.storage_key, "0");
  EXPECT_EQ(t.StorageRecord(), ".data/0.storage");
  EXPECT_EQ(t.location, "cpu");
  EXPECT_EQ(t.storage_numel, 12u);
  EXPECT_EQ(t.storage_offset, 2u);
  EXPECT_THAT(t.shape, ElementsAre(2, 3));
  EXPECT_THAT(t.stride, ElementsAre(3, 1));
  EXPECT_FALSE(t.parameter);
  EXPECT_FALSE(t.requires_grad);
  EXPECT_EQ(t.SpanBytes(), 24u);
}

TEST(TensorIndexTest, NamesModuleTensorsAsStateDictDoes) {
  // Net() with _modules {"enc": Linear} whose _parameters hold weight and
  // bias, and a buffer of the top module.
  std::string linear =
      Global("torch.nn.modules.linear", "Linear") + ")\x81" +
      Dict({{"_parameters",
             Dict({{"weight", Parameter(Tensor(Storage("HalfStorage", 0, 4), 0,
                                               {2, 2}, {2, 1}))},
                   {"bias", Parameter(Tensor(Storage("HalfStorage", 1, 2), 0,
                                             {2}, {1}))}})}}) +
      "b";
  std::string net =
      Global("m", "Net") + ")\x81" +
      Dict(
          {{"_buffers",
            Dict({{"steps", Tensor(Storage("LongStorage", 2, 1), 0, {}, {})}})},
           {"_modules", Dict({{"enc", linear}})}}) +
      "b";
  Result<TensorIndex> index = Index(net);
  ASSERT_TRUE(index.ok()) << index.status().message();
  ASSERT_EQ(index->tensors.size(), 3u);
  std::vector<std::string> names;
  for (const TensorInfo& t : index->tensors) names.push_back(t.name);
  EXPECT_THAT(names, ElementsAre("steps", "enc.weight", "enc.bias"));
  EXPECT_TRUE(index->tensors[1].parameter);
  EXPECT_TRUE(index->tensors[1].requires_grad);
  EXPECT_EQ(index->tensors[1].dtype, "float16");
  EXPECT_EQ(index->tensors[0].dtype, "int64");
  EXPECT_TRUE(index->tensors[0].shape.empty());
  EXPECT_EQ(index->tensors[0].SpanBytes(), 8u);  // a scalar: one element
}

TEST(TensorIndexTest, ViewsOfOneStorageShareItsKey) {
  // The second tensor's storage comes from the memo, as the pickler writes
  // a storage met again.
  std::string first =
      Tensor(Storage("FloatStorage", 7, 10) + kPut0, 0, {10}, {1});
  std::string second = Global("torch._utils", "_rebuild_tensor_v2") + "(" +
                       kGet0 + Int(4) + Ints({3}) + Ints({2}) + "\x89" + ")t" +
                       "R";
  Result<TensorIndex> index = Index("(" + first + second + "l");
  ASSERT_TRUE(index.ok()) << index.status().message();
  ASSERT_EQ(index->tensors.size(), 2u);
  EXPECT_EQ(index->tensors[0].storage_key, "7");
  EXPECT_EQ(index->tensors[1].storage_key, "7");
  EXPECT_EQ(index->tensors[0].name, "0");
  EXPECT_EQ(index->tensors[1].name, "1");
  EXPECT_EQ(index->tensors[1].storage_offset, 4u);
  EXPECT_EQ(index->tensors[1].SpanBytes(), 5u * 4);  // elements 0, 2, 4
}

TEST(TensorIndexTest, WhatItCannotFollowIsUnknownNotGuessed) {
  // The size is computed by a call, the storage is no storage id.
  std::string computed_size = Global("torch._utils", "_rebuild_tensor_v2") +
                              "(" + Storage("FloatStorage", 0, 4) + Int(0) +
                              Global("m", "shape") + ")R" + Ints({1}) + "\x89" +
                              ")t" + "R";
  std::string no_storage = Global("torch._utils", "_rebuild_tensor_v2") + "(" +
                           Int(5) + Int(0) + Ints({1}) + Ints({1}) + "tR";
  Result<TensorIndex> index = Index("(" + computed_size + no_storage + "l");
  ASSERT_TRUE(index.ok()) << index.status().message();
  ASSERT_EQ(index->tensors.size(), 2u);
  EXPECT_FALSE(index->tensors[0].known);
  EXPECT_THAT(index->tensors[0].unknown_reason, HasSubstr("size"));
  EXPECT_TRUE(index->tensors[0].shape.empty());
  EXPECT_FALSE(index->tensors[1].known);
  EXPECT_THAT(index->tensors[1].unknown_reason, HasSubstr("persistent id"));
}

TEST(TensorIndexTest, UntypedStoragesHaveNoDtype) {
  Result<TensorIndex> index =
      Index(Tensor(Storage("UntypedStorage", 0, 16), 0, {16}, {1}));
  ASSERT_TRUE(index.ok());
  ASSERT_EQ(index->tensors.size(), 1u);
  EXPECT_TRUE(index->tensors[0].known);
  EXPECT_EQ(index->tensors[0].dtype, "");
  EXPECT_EQ(index->tensors[0].SpanBytes(), std::nullopt);
}

TEST(TensorIndexTest, V3TakesTheDtypeFromItsArgument) {
  std::string v3 = Global("torch._utils", "_rebuild_tensor_v3") + "(" +
                   Storage("UntypedStorage", 3, 12) + Int(0) + Ints({2, 3}) +
                   Ints({3, 1}) + "\x89" +
                   Global("collections", "OrderedDict") + ")R" +
                   Global("torch", "uint16") + "tR";
  Result<TensorIndex> index = Index(v3);
  ASSERT_TRUE(index.ok()) << index.status().message();
  ASSERT_EQ(index->tensors.size(), 1u);
  const TensorInfo& t = index->tensors[0];
  EXPECT_TRUE(t.known) << t.unknown_reason;
  EXPECT_EQ(t.dtype, "uint16");
  EXPECT_EQ(t.itemsize, 2u);
  EXPECT_EQ(t.storage_key, "3");
  EXPECT_EQ(t.SpanBytes(), 12u);
}

TEST(TensorIndexTest, StoragesOfOtherRebuildsAreUnknownEntries) {
  // A quantized tensor's rebuild, and a storage pickled on its own.
  std::string quantized = Global("torch._utils", "_rebuild_qtensor") + "(" +
                          Storage("QInt8Storage", 0, 4) + Int(0) + Ints({4}) +
                          Ints({1}) + "tR";
  std::string bare = Storage("FloatStorage", 1, 2);
  Result<TensorIndex> index = Index(Dict({{"q", quantized}, {"s", bare}}));
  ASSERT_TRUE(index.ok()) << index.status().message();
  ASSERT_EQ(index->tensors.size(), 2u);
  EXPECT_FALSE(index->tensors[0].known);
  EXPECT_THAT(index->tensors[0].unknown_reason,
              HasSubstr("torch._utils._rebuild_qtensor"));
  EXPECT_EQ(index->tensors[0].storage_key, "0");
  EXPECT_EQ(index->tensors[0].storage_type, "torch.QInt8Storage");
  EXPECT_FALSE(index->tensors[1].known);
  EXPECT_EQ(index->tensors[1].storage_key, "1");
  EXPECT_THAT(index->tensors[1].unknown_reason, HasSubstr("no tensor"));
}

TEST(TensorIndexTest, CountsOtherPersistentIds) {
  Result<TensorIndex> index = Index("(" + Str("module") + Int(1) + "tQ");
  ASSERT_TRUE(index.ok());
  EXPECT_TRUE(index->tensors.empty());
  EXPECT_EQ(index->other_persistent_ids, 1u);
}

TEST(TensorIndexTest, RefusesWhatTheGateRefuses) {
  std::string truncated = "\x80\x03" + Str("abc");
  truncated.resize(truncated.size() - 1);
  Result<TensorIndex> index = IndexTensors(Bytes(truncated));
  EXPECT_EQ(index.status().code(), StatusCode::kCorruptPickle);
  EXPECT_THAT(index.status().message(), HasSubstr("at byte"));
}

TEST(TensorIndexTest, LimitsAreOptions) {
  std::string two = "(" + Tensor(Storage("FloatStorage", 0, 1), 0, {1}, {1}) +
                    Tensor(Storage("FloatStorage", 1, 1), 0, {1}, {1}) + "l";
  TensorIndexOptions one_tensor;
  one_tensor.max_tensors = 1;
  Result<TensorIndex> index = Index(two, one_tensor);
  EXPECT_EQ(index.status().code(), StatusCode::kResourceExhausted);
  EXPECT_THAT(index.status().message(), HasSubstr("more tensors"));
  TensorIndexOptions few_values;
  few_values.max_values = 8;
  index = Index(two, few_values);
  EXPECT_EQ(index.status().code(), StatusCode::kResourceExhausted);
  TensorIndexOptions flat;
  flat.max_dims = 1;
  index = Index(Tensor(Storage("FloatStorage", 0, 4), 0, {2, 2}, {2, 1}));
  ASSERT_TRUE(index.ok());
  EXPECT_TRUE(index->tensors[0].known);
  index = Index(Tensor(Storage("FloatStorage", 0, 4), 0, {2, 2}, {2, 1}), flat);
  ASSERT_TRUE(index.ok());
  EXPECT_FALSE(index->tensors[0].known);
}

TEST(TensorIndexTest, SelfReferencesEndTheNamingWalk) {
  // l = [t]; l.append(l): the walk meets l again and stops there.
  std::string body = "]" + kPut0 +
                     Tensor(Storage("FloatStorage", 0, 1), 0, {1}, {1}) + "a" +
                     kGet0 + "a";
  Result<TensorIndex> index = Index(body);
  ASSERT_TRUE(index.ok()) << index.status().message();
  ASSERT_EQ(index->tensors.size(), 1u);
  EXPECT_EQ(index->tensors[0].name, "0");
}

TEST(TensorIndexTest, DtypesOfLegacyStorageClasses) {
  EXPECT_EQ(DtypeOfStorage("DoubleStorage")->dtype, "float64");
  EXPECT_EQ(DtypeOfStorage("BFloat16Storage")->itemsize, 2u);
  EXPECT_EQ(DtypeOfStorage("ComplexFloatStorage")->itemsize, 8u);
  EXPECT_EQ(DtypeOfStorage("BoolStorage")->dtype, "bool");
  EXPECT_EQ(DtypeOfStorage("UntypedStorage"), std::nullopt);
  EXPECT_EQ(DtypeOfStorage("Float"), std::nullopt);
}

}  // namespace
}  // namespace hermetic
