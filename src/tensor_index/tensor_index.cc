#include "hermetic/tensor_index.h"

#include <array>
#include <deque>
#include <memory>
#include <optional>
#include <string_view>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <utility>

namespace hermetic {
namespace {

// A value as the model knows it. Containers are mutated in place by the
// opcodes that fill them (APPEND, SETITEMS, BUILD), so they are shared by
// pointer; every Value lives in the walker's arena, which also keeps
// self-referencing containers from leaking.
struct Value {
  enum class Kind : uint8_t {
    kOpaque,
    kMark,
    kNone,
    kBool,
    kInt,
    kStr,
    kTuple,
    kList,
    kDict,
    kGlobal,   // text: "module.name"
    kObject,   // items: pairs set on it; state: BUILD's argument
    kStorage,  // a ('storage', ...) persistent id; items: the id tuple's
    kTensor,   // tensor: index into the result
  };
  Kind kind = Kind::kOpaque;
  int64_t number = 0;
  std::string_view text;
  std::vector<Value*> items;
  Value* state = nullptr;
  size_t tensor = 0;
  bool used = false;  // kStorage: a tensor entry names it
};
using Kind = Value::Kind;

constexpr std::string_view kRebuildTensorV2 = "torch._utils._rebuild_tensor_v2";
constexpr std::string_view kRebuildTensorV3 = "torch._utils._rebuild_tensor_v3";
constexpr std::string_view kRebuildParameters[] = {
    "torch._utils._rebuild_parameter",
    "torch._utils._rebuild_parameter_with_state"};
// nn.Module's containers, left out of names as state_dict() leaves them out.
constexpr std::string_view kModuleContainers[] = {"_parameters", "_buffers",
                                                  "_modules"};

class Walker {
 public:
  Walker(std::span<const uint8_t> data, const TensorIndexOptions& options)
      : data_(reinterpret_cast<const char*>(data.data()), data.size()),
        options_(options) {
    mark_.kind = Kind::kMark;
  }

  Result<TensorIndex> Run() {
    while (pos_ < data_.size()) {
      op_pos_ = pos_;
      const auto op = static_cast<uint8_t>(data_[pos_++]);
      if (op == '.') {
        HERMETIC_ASSIGN_OR_RETURN(Value * root, Pop());
        for (Value* storage : storages_) {
          if (!storage->used) {
            HERMETIC_RETURN_IF_ERROR(AddUnknown(
                storage, static_cast<size_t>(storage->number),
                "a storage no tensor the index can read is built on"));
          }
        }
        HERMETIC_RETURN_IF_ERROR(Name(root));
        return std::move(result_);
      }
      HERMETIC_RETURN_IF_ERROR(Step(op));
    }
    return Corrupt("data ends without STOP");
  }

 private:
  Status Corrupt(std::string_view what) const {
    return Status::CorruptPickle("pickle " + std::string(what) + " at byte " +
                                 std::to_string(op_pos_));
  }

  Result<Value*> Make(Kind kind) {
    if (arena_.size() >= options_.max_values) {
      return Status::ResourceExhausted(
          "pickle makes more values than the tensor index allows at byte " +
          std::to_string(op_pos_));
    }
    arena_.push_back(std::make_unique<Value>());
    arena_.back()->kind = kind;
    return arena_.back().get();
  }
  Status Push(Value* v) {
    stack_.push_back(v);
    return Status::Ok();
  }
  Status PushNew(Kind kind) {
    HERMETIC_ASSIGN_OR_RETURN(Value * v, Make(kind));
    return Push(v);
  }
  Status PushInt(int64_t n) {
    HERMETIC_ASSIGN_OR_RETURN(Value * v, Make(Kind::kInt));
    v->number = n;
    return Push(v);
  }
  Status PushStr(std::string_view s) {
    HERMETIC_ASSIGN_OR_RETURN(Value * v, Make(Kind::kStr));
    v->text = s;
    return Push(v);
  }
  Result<Value*> Pop() {
    if (stack_.empty() || stack_.back()->kind == Kind::kMark) {
      return Corrupt("stack underflow");
    }
    Value* v = stack_.back();
    stack_.pop_back();
    return v;
  }
  Result<Value*> Top() {
    if (stack_.empty() || stack_.back()->kind == Kind::kMark) {
      return Corrupt("stack underflow");
    }
    return stack_.back();
  }
  // The values above the topmost MARK, which is removed too.
  Result<std::vector<Value*>> PopMark() {
    size_t i = stack_.size();
    while (i > 0 && stack_[i - 1]->kind != Kind::kMark) --i;
    if (i == 0) return Corrupt("missing MARK");
    std::vector<Value*> items(stack_.begin() + i, stack_.end());
    stack_.resize(i - 1);
    return items;
  }

  // Argument readers; each fails at the end of the data.
  Result<std::string_view> Bytes(uint64_t n) {
    if (data_.size() - pos_ < n) return Corrupt("truncated argument");
    std::string_view out = data_.substr(pos_, n);
    pos_ += n;
    return out;
  }
  Result<uint64_t> Unsigned(size_t width) {
    HERMETIC_ASSIGN_OR_RETURN(std::string_view raw, Bytes(width));
    uint64_t v = 0;
    for (size_t i = width; i-- > 0;) {
      v = (v << 8) | static_cast<uint8_t>(raw[i]);
    }
    return v;
  }
  Result<std::string_view> Counted(size_t width) {
    HERMETIC_ASSIGN_OR_RETURN(uint64_t n, Unsigned(width));
    return Bytes(n);
  }
  Result<std::string_view> Line() {
    size_t end = data_.find('\n', pos_);
    if (end == std::string_view::npos) return Corrupt("truncated argument");
    std::string_view out = data_.substr(pos_, end - pos_);
    pos_ = end + 1;
    return out;
  }
  // Protocol 0's INT text, when it is a small decimal ("I01" is True).
  Status PushIntLine(std::string_view line) {
    if (line == "00" || line == "01") {
      HERMETIC_ASSIGN_OR_RETURN(Value * v, Make(Kind::kBool));
      v->number = line == "01";
      return Push(v);
    }
    bool negative = !line.empty() && line[0] == '-';
    if (negative) line.remove_prefix(1);
    if (line.empty() || line.size() > 18) return PushNew(Kind::kOpaque);
    int64_t n = 0;
    for (char c : line) {
      if (c < '0' || c > '9') return PushNew(Kind::kOpaque);
      n = n * 10 + (c - '0');
    }
    return PushInt(negative ? -n : n);
  }
  // LONG1: little-endian two's complement, modelled up to 8 bytes.
  Status PushLong(std::string_view raw) {
    if (raw.size() > 8) return PushNew(Kind::kOpaque);
    uint64_t v = 0;
    for (size_t i = raw.size(); i-- > 0;) {
      v = (v << 8) | static_cast<uint8_t>(raw[i]);
    }
    if (!raw.empty() && raw.size() < 8 &&
        (static_cast<uint8_t>(raw.back()) & 0x80)) {
      v -= uint64_t{1} << (8 * raw.size());
    }
    return PushInt(static_cast<int64_t>(v));
  }

  Status PushGlobal(std::string_view module, std::string_view name) {
    HERMETIC_ASSIGN_OR_RETURN(Value * v, Make(Kind::kGlobal));
    texts_.push_back(std::string(module) + "." + std::string(name));
    v->text = texts_.back();
    return Push(v);
  }
  Status Memoize(uint64_t index) {
    HERMETIC_ASSIGN_OR_RETURN(Value * top, Top());
    memo_[index] = top;
    return Status::Ok();
  }
  Status Get(uint64_t index) {
    auto it = memo_.find(index);
    if (it == memo_.end()) return Corrupt("memo index missing");
    return Push(it->second);
  }
  static void AddPairs(Value* target, const std::vector<Value*>& pairs) {
    if (target->kind != Kind::kDict && target->kind != Kind::kObject) return;
    target->items.insert(
        target->items.end(), pairs.begin(),
        pairs.end() - static_cast<ptrdiff_t>(pairs.size() % 2));
  }

  Status Persistent(Value* id) {
    const bool storage = id->kind == Kind::kTuple && !id->items.empty() &&
                         id->items[0]->kind == Kind::kStr &&
                         id->items[0]->text == "storage";
    if (!storage) {
      ++result_.other_persistent_ids;
      return PushNew(Kind::kOpaque);
    }
    HERMETIC_ASSIGN_OR_RETURN(Value * v, Make(Kind::kStorage));
    v->items = id->items;
    v->number = static_cast<int64_t>(op_pos_);
    storages_.push_back(v);
    return Push(v);
  }

  Status Call(Value* callable, Value* args) {
    const bool global = callable->kind == Kind::kGlobal;
    if (global && (callable->text == kRebuildTensorV2 ||
                   callable->text == kRebuildTensorV3)) {
      return RebuildTensor(args, callable->text == kRebuildTensorV3);
    }
    for (std::string_view parameter : kRebuildParameters) {
      if (global && callable->text == parameter && args->kind == Kind::kTuple &&
          !args->items.empty() && args->items[0]->kind == Kind::kTensor) {
        TensorInfo& t = result_.tensors[args->items[0]->tensor];
        t.parameter = true;
        if (args->items.size() > 1 && args->items[1]->kind == Kind::kBool) {
          t.requires_grad = args->items[1]->number != 0;
        }
        return Push(args->items[0]);
      }
    }
    // Another rebuild function (quantized, sparse, subclass, ...) over a
    // storage: a tensor whose layout the index does not read.
    if (args->kind == Kind::kTuple) {
      for (Value* item : args->items) {
        if (item->kind != Kind::kStorage || item->used) continue;
        std::string why = "rebuilt by ";
        why.append(global ? callable->text : "a computed callable")
            .append(", which the index does not read");
        HERMETIC_RETURN_IF_ERROR(AddUnknown(item, op_pos_, std::move(why)));
      }
    }
    return PushNew(Kind::kObject);
  }

  Status CheckTensorLimit() const {
    if (result_.tensors.size() < options_.max_tensors) return Status::Ok();
    return Status::ResourceExhausted(
        "pickle rebuilds more tensors than the tensor index allows at byte " +
        std::to_string(op_pos_));
  }

  // An entry for a storage the index cannot tie to a tensor's layout.
  Status AddUnknown(Value* storage, size_t position, std::string why) {
    HERMETIC_RETURN_IF_ERROR(CheckTensorLimit());
    storage->used = true;
    TensorInfo t;
    t.position = position;
    t.unknown_reason = std::move(why);
    // Which storage it is, when the id says.
    TensorInfo probe;
    if (DescribeStorage(storage, &probe).empty()) {
      t.storage_type = std::move(probe.storage_type);
      t.storage_key = std::move(probe.storage_key);
      t.location = std::move(probe.location);
      t.storage_numel = probe.storage_numel;
    }
    result_.tensors.push_back(std::move(t));
    return Status::Ok();
  }

  // _rebuild_tensor_v2(storage, storage_offset, size, stride,
  // requires_grad, backward_hooks[, metadata]); v3 has the dtype after
  // backward_hooks.
  Status RebuildTensor(Value* args, bool v3) {
    HERMETIC_RETURN_IF_ERROR(CheckTensorLimit());
    TensorInfo t;
    t.position = op_pos_;
    t.unknown_reason = Describe(args, v3, &t);
    t.known = t.unknown_reason.empty();
    if (args->kind == Kind::kTuple && !args->items.empty() &&
        args->items[0]->kind == Kind::kStorage) {
      args->items[0]->used = true;
    }
    HERMETIC_ASSIGN_OR_RETURN(Value * v, Make(Kind::kTensor));
    v->tensor = result_.tensors.size();
    result_.tensors.push_back(std::move(t));
    return Push(v);
  }

  // Fills the storage fields of `t` from a storage id; why it cannot, or "".
  static std::string DescribeStorage(const Value* storage, TensorInfo* t) {
    if (storage->kind != Kind::kStorage || storage->items.size() != 5) {
      return "the storage is not a ('storage', type, key, location, numel) "
             "persistent id";
    }
    const Value* type = storage->items[1];
    const Value* key = storage->items[2];
    const Value* location = storage->items[3];
    const Value* numel = storage->items[4];
    if (type->kind != Kind::kGlobal) return "the storage type is not a global";
    t->storage_type = std::string(type->text);
    if (type->text.starts_with("torch.")) {
      if (std::optional<StorageDtype> d =
              DtypeOfStorage(type->text.substr(6))) {
        t->dtype = std::string(d->dtype);
        t->itemsize = d->itemsize;
      }
    }
    if (key->kind == Kind::kInt && key->number >= 0) {
      t->storage_key = std::to_string(key->number);
    } else if (key->kind == Kind::kStr) {
      t->storage_key = std::string(key->text);
    } else {
      return "the storage key is not an int or str";
    }
    if (location->kind != Kind::kStr) return "the location is not a str";
    t->location = std::string(location->text);
    if (numel->kind != Kind::kInt || numel->number < 0) {
      return "the storage size is not an int";
    }
    t->storage_numel = static_cast<uint64_t>(numel->number);
    return "";
  }

  // Fills `t` from the call's arguments; why it cannot, or "".
  std::string Describe(const Value* args, bool v3, TensorInfo* t) const {
    if (args->kind != Kind::kTuple || args->items.size() < (v3 ? 7u : 4u)) {
      return v3 ? "the arguments are not a tuple of 7 or more"
                : "the arguments are not a tuple of 4 or more";
    }
    if (std::string why = DescribeStorage(args->items[0], t); !why.empty()) {
      return why;
    }
    const Value* offset = args->items[1];
    if (offset->kind != Kind::kInt || offset->number < 0) {
      return "the storage offset is not an int";
    }
    t->storage_offset = static_cast<uint64_t>(offset->number);
    for (auto [value, out, what] :
         {std::tuple{args->items[2], &t->shape, "size"},
          std::tuple{args->items[3], &t->stride, "stride"}}) {
      if (value->kind != Kind::kTuple ||
          value->items.size() > options_.max_dims) {
        return std::string("the ") + what + " is not a tuple of ints";
      }
      for (const Value* dim : value->items) {
        if (dim->kind != Kind::kInt || dim->number < 0) {
          return std::string("the ") + what + " is not a tuple of ints";
        }
        out->push_back(dim->number);
      }
    }
    if (t->shape.size() != t->stride.size()) {
      return "size and stride differ in length";
    }
    if (args->items.size() > 4 && args->items[4]->kind == Kind::kBool) {
      t->requires_grad = args->items[4]->number != 0;
    }
    if (v3) {
      // The tensor's own dtype, over an untyped storage.
      const Value* dtype = args->items[6];
      if (dtype->kind != Kind::kGlobal || !dtype->text.starts_with("torch.")) {
        return "the dtype is not a torch global";
      }
      t->dtype = std::string(dtype->text.substr(6));
      t->itemsize = ItemSize(t->dtype).value_or(0);
    }
    return "";
  }

  Status Step(uint8_t op) {
    switch (op) {
      case 'I': {
        HERMETIC_ASSIGN_OR_RETURN(std::string_view line, Line());
        return PushIntLine(line);
      }
      case 'L':
      case 'F':
      case 'S':
      case 'V': {
        HERMETIC_RETURN_IF_ERROR(Line().status());
        return PushNew(Kind::kOpaque);
      }
      case 'P': {
        HERMETIC_RETURN_IF_ERROR(Line().status());
        ++result_.other_persistent_ids;
        return PushNew(Kind::kOpaque);
      }
      case 'J': {
        HERMETIC_ASSIGN_OR_RETURN(uint64_t n, Unsigned(4));
        return PushInt(static_cast<int32_t>(static_cast<uint32_t>(n)));
      }
      case 'K':
      case 'M': {
        HERMETIC_ASSIGN_OR_RETURN(uint64_t n, Unsigned(op == 'K' ? 1 : 2));
        return PushInt(static_cast<int64_t>(n));
      }
      case 'G': {
        HERMETIC_RETURN_IF_ERROR(Bytes(8).status());
        return PushNew(Kind::kOpaque);
      }
      case 0x8a: {
        HERMETIC_ASSIGN_OR_RETURN(std::string_view raw, Counted(1));
        return PushLong(raw);
      }
      case 0x8b: {
        HERMETIC_RETURN_IF_ERROR(Counted(4).status());
        return PushNew(Kind::kOpaque);
      }
      case 'U':
      case 0x8c: {
        HERMETIC_ASSIGN_OR_RETURN(std::string_view s, Counted(1));
        return PushStr(s);
      }
      case 'T':
      case 'X': {
        HERMETIC_ASSIGN_OR_RETURN(std::string_view s, Counted(4));
        return PushStr(s);
      }
      case 0x8d: {
        HERMETIC_ASSIGN_OR_RETURN(std::string_view s, Counted(8));
        return PushStr(s);
      }
      case 'C': {
        HERMETIC_RETURN_IF_ERROR(Counted(1).status());
        return PushNew(Kind::kOpaque);
      }
      case 'B': {
        HERMETIC_RETURN_IF_ERROR(Counted(4).status());
        return PushNew(Kind::kOpaque);
      }
      case 0x8e:
      case 0x96: {
        HERMETIC_RETURN_IF_ERROR(Counted(8).status());
        return PushNew(Kind::kOpaque);
      }
      case 'N':
        return PushNew(Kind::kNone);
      case 0x88:
      case 0x89: {
        HERMETIC_ASSIGN_OR_RETURN(Value * v, Make(Kind::kBool));
        v->number = op == 0x88;
        return Push(v);
      }
      case ']':
        return PushNew(Kind::kList);
      case ')':
        return PushNew(Kind::kTuple);
      case '}':
        return PushNew(Kind::kDict);
      case 0x8f:
      case 0x97:
        return PushNew(Kind::kOpaque);
      case 0x82:
      case 0x83:
      case 0x84: {
        HERMETIC_RETURN_IF_ERROR(Unsigned(op == 0x82   ? 1
                                          : op == 0x83 ? 2
                                                       : 4)
                                     .status());
        return PushNew(Kind::kOpaque);
      }
      case 'a': {
        HERMETIC_ASSIGN_OR_RETURN(Value * item, Pop());
        HERMETIC_ASSIGN_OR_RETURN(Value * list, Top());
        if (list->kind == Kind::kList) list->items.push_back(item);
        return Status::Ok();
      }
      case 'e': {
        HERMETIC_ASSIGN_OR_RETURN(std::vector<Value*> items, PopMark());
        HERMETIC_ASSIGN_OR_RETURN(Value * list, Top());
        if (list->kind == Kind::kList) {
          list->items.insert(list->items.end(), items.begin(), items.end());
        }
        return Status::Ok();
      }
      case 'u': {
        HERMETIC_ASSIGN_OR_RETURN(std::vector<Value*> pairs, PopMark());
        HERMETIC_ASSIGN_OR_RETURN(Value * dict, Top());
        AddPairs(dict, pairs);
        return Status::Ok();
      }
      case 's': {
        HERMETIC_ASSIGN_OR_RETURN(Value * value, Pop());
        HERMETIC_ASSIGN_OR_RETURN(Value * key, Pop());
        HERMETIC_ASSIGN_OR_RETURN(Value * dict, Top());
        AddPairs(dict, {key, value});
        return Status::Ok();
      }
      case 0x90:  // ADDITEMS: into a set, which the model leaves opaque
        HERMETIC_RETURN_IF_ERROR(PopMark().status());
        return Top().status();
      case '1': {
        HERMETIC_RETURN_IF_ERROR(PopMark().status());
        return Status::Ok();
      }
      case 'l':
      case 't':
      case 'd': {
        HERMETIC_ASSIGN_OR_RETURN(std::vector<Value*> items, PopMark());
        HERMETIC_ASSIGN_OR_RETURN(Value * v, Make(op == 'l'   ? Kind::kList
                                                  : op == 't' ? Kind::kTuple
                                                              : Kind::kDict));
        if (op == 'd') {
          AddPairs(v, items);
        } else {
          v->items = std::move(items);
        }
        return Push(v);
      }
      case 0x91: {  // FROZENSET
        HERMETIC_RETURN_IF_ERROR(PopMark().status());
        return PushNew(Kind::kOpaque);
      }
      case 0x85:
      case 0x86:
      case 0x87: {
        std::vector<Value*> items(op - 0x84);
        for (size_t i = items.size(); i-- > 0;) {
          HERMETIC_ASSIGN_OR_RETURN(items[i], Pop());
        }
        HERMETIC_ASSIGN_OR_RETURN(Value * v, Make(Kind::kTuple));
        v->items = std::move(items);
        return Push(v);
      }
      case '0':
        // POP discards a MARK too, as the unpickler does.
        if (stack_.empty()) return Corrupt("stack underflow");
        stack_.pop_back();
        return Status::Ok();
      case '2': {
        HERMETIC_ASSIGN_OR_RETURN(Value * top, Top());
        return Push(top);
      }
      case '(':
        return Push(&mark_);
      case 'g':
      case 'p': {
        HERMETIC_ASSIGN_OR_RETURN(std::string_view line, Line());
        uint64_t index = 0;
        if (line.empty() || line.size() > 18) return Corrupt("bad memo index");
        for (char c : line) {
          if (c < '0' || c > '9') return Corrupt("bad memo index");
          index = index * 10 + static_cast<uint64_t>(c - '0');
        }
        return op == 'g' ? Get(index) : Memoize(index);
      }
      case 'h':
      case 'j':
      case 'q':
      case 'r': {
        HERMETIC_ASSIGN_OR_RETURN(uint64_t index,
                                  Unsigned(op == 'h' || op == 'q' ? 1 : 4));
        return op == 'h' || op == 'j' ? Get(index) : Memoize(index);
      }
      case 0x94:
        return Memoize(memo_.size());
      case 'c':
      case 'i': {
        HERMETIC_ASSIGN_OR_RETURN(std::string_view module, Line());
        HERMETIC_ASSIGN_OR_RETURN(std::string_view name, Line());
        if (op == 'c') return PushGlobal(module, name);
        HERMETIC_RETURN_IF_ERROR(PopMark().status());
        return PushNew(Kind::kObject);
      }
      case 0x93: {
        HERMETIC_ASSIGN_OR_RETURN(Value * name, Pop());
        HERMETIC_ASSIGN_OR_RETURN(Value * module, Pop());
        if (module->kind == Kind::kStr && name->kind == Kind::kStr) {
          return PushGlobal(module->text, name->text);
        }
        return PushNew(Kind::kOpaque);
      }
      case 'o': {
        HERMETIC_RETURN_IF_ERROR(PopMark().status());
        return PushNew(Kind::kObject);
      }
      case 'R': {
        HERMETIC_ASSIGN_OR_RETURN(Value * args, Pop());
        HERMETIC_ASSIGN_OR_RETURN(Value * callable, Pop());
        return Call(callable, args);
      }
      case 'b': {
        HERMETIC_ASSIGN_OR_RETURN(Value * state, Pop());
        HERMETIC_ASSIGN_OR_RETURN(Value * object, Top());
        if (object->kind == Kind::kObject) object->state = state;
        return Status::Ok();
      }
      case 0x81:
      case 0x92: {
        for (int i = op == 0x81 ? 2 : 3; i > 0; --i) {
          HERMETIC_RETURN_IF_ERROR(Pop().status());
        }
        return PushNew(Kind::kObject);
      }
      case 'Q': {
        HERMETIC_ASSIGN_OR_RETURN(Value * id, Pop());
        return Persistent(id);
      }
      case 0x98: {
        HERMETIC_RETURN_IF_ERROR(Pop().status());
        return PushNew(Kind::kOpaque);
      }
      case 0x80: {
        HERMETIC_RETURN_IF_ERROR(Unsigned(1).status());
        return Status::Ok();
      }
      case 0x95: {
        HERMETIC_RETURN_IF_ERROR(Unsigned(8).status());
        return Status::Ok();
      }
    }
    return Corrupt("unknown opcode");
  }

  // Gives every reachable tensor the first path to it, depth first.
  Status Name(Value* root) {
    struct Entry {
      Value* value;
      size_t depth;
      std::string path;
    };
    std::vector<Entry> todo = {{root, 0, ""}};
    std::unordered_set<const Value*> seen;
    auto join = [&](const std::string& path, std::string_view part) {
      for (std::string_view skip : kModuleContainers) {
        if (part == skip) return path;
      }
      std::string out = path;
      if (!out.empty()) out += '.';
      return out.append(part);
    };
    while (!todo.empty()) {
      Entry e = std::move(todo.back());
      todo.pop_back();
      if (!seen.insert(e.value).second) continue;
      if (e.value->kind == Kind::kTensor) {
        TensorInfo& t = result_.tensors[e.value->tensor];
        if (t.name.empty()) t.name = std::move(e.path);
        continue;
      }
      if (e.depth >= options_.max_name_depth) continue;
      std::vector<Entry> children;
      auto add = [&](Value* child, std::string path) {
        if (path.size() <= options_.max_name_length) {
          children.push_back({child, e.depth + 1, std::move(path)});
        }
      };
      switch (e.value->kind) {
        case Kind::kList:
        case Kind::kTuple:
          for (size_t i = 0; i < e.value->items.size(); ++i) {
            add(e.value->items[i], join(e.path, std::to_string(i)));
          }
          break;
        case Kind::kObject:
          if (e.value->state != nullptr) add(e.value->state, e.path);
          [[fallthrough]];
        case Kind::kDict:
          for (size_t i = 0; i + 1 < e.value->items.size(); i += 2) {
            const Value* key = e.value->items[i];
            if (key->kind == Kind::kStr) {
              add(e.value->items[i + 1], join(e.path, key->text));
            } else if (key->kind == Kind::kInt) {
              add(e.value->items[i + 1],
                  join(e.path, std::to_string(key->number)));
            }
          }
          break;
        default:
          break;
      }
      // Popped in pickle order.
      for (auto it = children.rbegin(); it != children.rend(); ++it) {
        todo.push_back(std::move(*it));
      }
    }
    return Status::Ok();
  }

  std::string_view data_;
  const TensorIndexOptions& options_;
  size_t pos_ = 0;
  size_t op_pos_ = 0;
  std::vector<std::unique_ptr<Value>> arena_;
  std::deque<std::string> texts_;  // global names; views stay valid
  Value mark_;                     // every MARK on the stack
  std::vector<Value*> stack_;
  std::unordered_map<uint64_t, Value*> memo_;
  std::vector<Value*> storages_;  // every storage id, in pickle order
  TensorIndex result_;
};

}  // namespace

std::optional<uint64_t> TensorInfo::SpanBytes() const {
  if (itemsize == 0 || shape.size() != stride.size()) return std::nullopt;
  uint64_t last = 0;  // the largest element index past the offset
  for (size_t i = 0; i < shape.size(); ++i) {
    if (shape[i] == 0) return 0;
    uint64_t extent = 0;
    if (__builtin_mul_overflow(static_cast<uint64_t>(shape[i] - 1),
                               static_cast<uint64_t>(stride[i]), &extent) ||
        __builtin_add_overflow(last, extent, &last)) {
      return std::nullopt;
    }
  }
  uint64_t bytes = 0;
  if (__builtin_add_overflow(last, 1, &last) ||
      __builtin_mul_overflow(last, itemsize, &bytes)) {
    return std::nullopt;
  }
  return bytes;
}

std::optional<size_t> ItemSize(std::string_view dtype) {
  static constexpr std::pair<std::string_view, size_t> kDtypes[] = {
      {"float64", 8},
      {"float32", 4},
      {"float16", 2},
      {"bfloat16", 2},
      {"int64", 8},
      {"int32", 4},
      {"int16", 2},
      {"int8", 1},
      {"uint8", 1},
      {"uint16", 2},
      {"uint32", 4},
      {"uint64", 8},
      {"bool", 1},
      {"complex128", 16},
      {"complex64", 8},
      {"complex32", 4},
      {"quint8", 1},
      {"qint8", 1},
      {"qint32", 4},
      {"quint4x2", 1},
      {"quint2x4", 1},
      {"float8_e4m3fn", 1},
      {"float8_e5m2", 1},
      {"float8_e4m3fnuz", 1},
      {"float8_e5m2fnuz", 1},
      {"float8_e8m0fnu", 1},
      {"bits8", 1},
      {"bits16", 2},
      {"bits1x8", 1},
      {"bits2x4", 1},
      {"bits4x2", 1},
  };
  for (const auto& [name, size] : kDtypes) {
    if (name == dtype) return size;
  }
  return std::nullopt;
}

std::optional<StorageDtype> DtypeOfStorage(std::string_view class_name) {
  // torch's legacy typed storage classes (torch/storage.py names them).
  static constexpr std::pair<std::string_view, std::string_view> kClasses[] = {
      {"DoubleStorage", "float64"},
      {"FloatStorage", "float32"},
      {"HalfStorage", "float16"},
      {"BFloat16Storage", "bfloat16"},
      {"LongStorage", "int64"},
      {"IntStorage", "int32"},
      {"ShortStorage", "int16"},
      {"CharStorage", "int8"},
      {"ByteStorage", "uint8"},
      {"BoolStorage", "bool"},
      {"ComplexDoubleStorage", "complex128"},
      {"ComplexFloatStorage", "complex64"},
      {"QUInt8Storage", "quint8"},
      {"QInt8Storage", "qint8"},
      {"QInt32Storage", "qint32"},
      {"QUInt4x2Storage", "quint4x2"},
      {"QUInt2x4Storage", "quint2x4"},
  };
  for (const auto& [name, dtype] : kClasses) {
    if (name == class_name) return StorageDtype{dtype, *ItemSize(dtype)};
  }
  return std::nullopt;
}

Result<TensorIndex> IndexTensors(std::span<const uint8_t> pickle,
                                 const TensorIndexOptions& options) {
  HERMETIC_RETURN_IF_ERROR(ScanPickle(pickle, options.gate).status());
  return Walker(pickle, options).Run();
}

}  // namespace hermetic
