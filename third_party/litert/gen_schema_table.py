"""Generates tflite_schema_table.h, the TFLite schema description model_validator.cc walks.

The source of truth is the flatbuffer Python module that ships with the pinned LiteRT wheel
(``ai_edge_litert.schema_py_generated``). Every table class there has one accessor per
field; the accessor's ``self._tab.Offset(N)`` gives the vtable slot (field id
``(N - 4) / 2``) and its body tells the field's kind:

    self._tab.Get(number_types.XFlags, o + self._tab.Pos)   scalar X
    self._tab.String(o + self._tab.Pos)                      string
    self._tab.Indirect(o + self._tab.Pos); obj = T()         table T
    self._tab.Union(obj, o)                                  union (type field: id - 1)
    self._tab.Vector(o) ... Get(number_types.XFlags, a + ..) vector of scalars X
    self._tab.Vector(o) ... Indirect(x); obj = T()           vector of tables T

Union members come from the union enum (``BuiltinOptions.FullyConnectedOptions = 9``), whose
member names are the table class names; which enum a union field uses comes from the
object API (``self.builtinOptions = BuiltinOptionsCreator(self.builtinOptionsType, ...)``).

The output is committed; the build never runs this script. Rerun it after upgrading
ai-edge-litert:  python third_party/litert/gen_schema_table.py
(``--check`` exits non-zero when the committed file is stale.)
"""

from __future__ import annotations

import argparse
import inspect
import re
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

OUTPUT = Path(__file__).with_name("tflite_schema_table.h")

SCALAR_SIZES = {
    "Bool": 1,
    "Int8": 1,
    "Uint8": 1,
    "Int16": 2,
    "Uint16": 2,
    "Int32": 4,
    "Uint32": 4,
    "Int64": 8,
    "Uint64": 8,
    "Float32": 4,
    "Float64": 8,
}
# The unions that hold operator options: tables reachable only through them are "options"
# tables; the others are the core tables the validator's semantic checks name.
OPTIONS_UNIONS = ("BuiltinOptions", "BuiltinOptions2")

_OFFSET = re.compile(r"self\._tab\.Offset\((\d+)\)")
_SCALAR = re.compile(
    r"self\._tab\.Get\(flatbuffers\.number_types\.(\w+)Flags, o \+ self\._tab\.Pos\)"
)
_VEC_SCALAR = re.compile(r"self\._tab\.Get\(flatbuffers\.number_types\.(\w+)Flags, a \+")
_NEW_OBJ = re.compile(r"obj = (\w+)\(\)")
_CREATOR = re.compile(r"self\.(\w+) = (\w+)Creator\(self\.\w+Type, \w+\.(\w+)\(\)\)")


@dataclass
class Field:
    name: str  # schema (snake_case) name
    accessor: str  # Python accessor name
    id: int
    kind: str  # scalar | string | table | union | scalar_vector | table_vector
    size: int = 0  # scalar size, or element size of a scalar vector
    scalar: str = ""  # Bool, Int8, ... for scalars and scalar vectors
    ref: str = ""  # table name (table, table_vector) or union enum name (union)
    subgraph_ref: bool = False


@dataclass
class Table:
    name: str
    fields: list[Field]
    num_slots: int  # from XStart: builder.StartObject(n)


# The schema is not consistent about digits (seed2, pot_scale_int16, builtin_options_2).
_SNAKE_EXCEPTIONS = {
    "BuiltinOptions2": "builtin_options_2",
    "BuiltinOptions2Type": "builtin_options_2_type",
}


def snake(name: str) -> str:
    """Python accessor name -> schema field name (NewShape -> new_shape)."""
    if name in _SNAKE_EXCEPTIONS:
        return _SNAKE_EXCEPTIONS[name]
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


def _is_table_class(obj: object) -> bool:
    return inspect.isclass(obj) and "Init" in vars(obj) and "GetRootAs" in vars(obj)


def _is_enum_class(obj: object) -> bool:
    if not inspect.isclass(obj) or _is_table_class(obj):
        return False
    members = {k: v for k, v in vars(obj).items() if not k.startswith("_")}
    return bool(members) and all(isinstance(v, int) for v in members.values())


def _enum_members(enum: type) -> dict[str, int]:
    return {k: v for k, v in vars(enum).items() if not k.startswith("_") and isinstance(v, int)}


def _classify(cls: type, accessor: str, src: str, union_enums: dict[str, str]) -> Field:
    field_id = (int(_OFFSET.search(src).group(1)) - 4) // 2
    name = snake(accessor)
    where = f"{cls.__name__}.{accessor}"
    if "self._tab.Union(" in src:
        enum = union_enums.get(accessor)
        if enum is None:
            raise SystemExit(f"{where}: cannot tell which union enum this field uses")
        return Field(name, accessor, field_id, "union", ref=enum)
    if "self._tab.Vector(o)" in src:
        if "self._tab.Indirect(x)" in src:
            table = _NEW_OBJ.search(src).group(1)
            return Field(name, accessor, field_id, "table_vector", ref=table)
        m = _VEC_SCALAR.search(src)
        if m and m.group(1) in SCALAR_SIZES:
            size = SCALAR_SIZES[m.group(1)]
            return Field(name, accessor, field_id, "scalar_vector", size, m.group(1))
        raise SystemExit(f"{where}: unsupported vector element kind (structs/strings?)")
    if "self._tab.Indirect(o + self._tab.Pos)" in src:
        return Field(name, accessor, field_id, "table", ref=_NEW_OBJ.search(src).group(1))
    if "self._tab.String(o + self._tab.Pos)" in src:
        return Field(name, accessor, field_id, "string")
    m = _SCALAR.search(src)
    if m and m.group(1) in SCALAR_SIZES:
        return Field(name, accessor, field_id, "scalar", SCALAR_SIZES[m.group(1)], m.group(1))
    raise SystemExit(f"{where}: unrecognised accessor body:\n{src}")


def read_schema(schema: ModuleType) -> tuple[dict[str, Table], dict[str, dict[str, int]]]:
    """(tables by name, union enums by name -> {member table: type value})."""
    tables: dict[str, Table] = {}
    unions: dict[str, dict[str, int]] = {}
    for cls_name, cls in sorted(vars(schema).items()):
        if not _is_table_class(cls):
            continue
        # Which union enum each union accessor uses, from the object API's _UnPack.
        union_enums: dict[str, str] = {}
        obj_api = getattr(schema, cls_name + "T", None)
        if obj_api is not None and "_UnPack" in vars(obj_api):
            for _, enum, accessor in _CREATOR.findall(inspect.getsource(obj_api._UnPack)):
                union_enums[accessor] = enum
        fields = []
        methods = {k: v for k, v in vars(cls).items() if inspect.isfunction(v)}
        for accessor, fn in methods.items():
            # XLength / XIsNone / XAsNumpy are helpers of vector X (a field may be called
            # `length` though: ExternalBuffer.Length).
            stem = re.sub(r"(Length|IsNone|AsNumpy)$", "", accessor)
            if stem != accessor and stem in methods:
                continue
            src = inspect.getsource(fn)
            if _OFFSET.search(src):
                fields.append(_classify(cls, accessor, src, union_enums))
        fields.sort(key=lambda f: f.id)
        start = inspect.getsource(getattr(schema, cls_name + "Start"))
        num_slots = int(re.search(r"StartObject\((\d+)\)", start).group(1))
        tables[cls_name] = Table(cls_name, fields, num_slots)
    for table in tables.values():
        for f in table.fields:
            if f.kind in ("table", "table_vector") and f.ref not in tables:
                raise SystemExit(f"{table.name}.{f.name}: unknown table {f.ref}")
            if f.kind == "union" and f.ref not in unions:
                members = _enum_members(getattr(schema, f.ref))
                for member in members:
                    if member != "NONE" and member not in tables:
                        raise SystemExit(f"union {f.ref}: member {member} is not a table")
                unions[f.ref] = members
            # Fields naming a subgraph: *_subgraph_index in options, CallOptions.subgraph.
            if f.kind == "scalar" and (
                f.name.endswith("subgraph_index")
                or (table.name, f.name) == ("CallOptions", "subgraph")
            ):
                f.subgraph_ref = True
    return tables, unions


def core_tables(tables: dict[str, Table], unions: dict[str, dict[str, int]]) -> list[str]:
    """Tables reachable from Model without passing through an options union."""
    seen: list[str] = []
    todo = ["Model"]
    while todo:
        name = todo.pop(0)
        if name in seen:
            continue
        seen.append(name)
        for f in tables[name].fields:
            if f.kind in ("table", "table_vector"):
                todo.append(f.ref)
            elif f.kind == "union" and f.ref not in OPTIONS_UNIONS:
                todo.extend(m for m in unions[f.ref] if m != "NONE")
    return seen


def generate(schema: ModuleType, version: str) -> str:
    tables, unions = read_schema(schema)
    core = core_tables(tables, unions)
    # Core tables first (schema order of discovery), then the rest alphabetically.
    order = core + sorted(n for n in tables if n not in core)
    index = {n: i for i, n in enumerate(order)}
    union_order = sorted(unions)
    union_index = {n: i for i, n in enumerate(union_order)}

    out: list[str] = []
    w = out.append
    w("// Generated by third_party/litert/gen_schema_table.py from")
    w(f"// ai_edge_litert=={version} (schema_py_generated.py). Do not edit: rerun the script.")
    w("//")
    w("// The TFLite flatbuffer schema as data: every table, its fields (vtable slot, kind,")
    w("// scalar size, referenced table or union) and the union members. model_validator.cc")
    w("// walks a model with it; the named constants below give the core tables' field ids.")
    w("#ifndef LITEGEN_THIRD_PARTY_LITERT_TFLITE_SCHEMA_TABLE_H_")
    w("#define LITEGEN_THIRD_PARTY_LITERT_TFLITE_SCHEMA_TABLE_H_")
    w("")
    w("#include <cstdint>")
    w("")
    w("namespace litegen::tflite_schema {")
    w("")
    w("enum class Kind : uint8_t {")
    w("  kScalar, kString, kTable, kUnion, kScalarVector, kTableVector")
    w("};")
    w("")
    w("struct FieldDesc {")
    w("  const char* name;")
    w("  uint16_t id;         // vtable slot (field id)")
    w("  Kind kind;")
    w("  uint8_t size;        // kScalar: byte size; kScalarVector: element size")
    w("  int16_t ref;         // kTable / kTableVector: table index; kUnion: union index")
    w("  bool subgraph_ref;   // a scalar holding a subgraph index")
    w("};")
    w("")
    w("struct TableDesc {")
    w("  const char* name;")
    w("  uint16_t first_field;  // into kFields")
    w("  uint16_t num_fields;")
    w("};")
    w("")
    w("// Union members by type value: kUnionMembers[first_member + type] is a table index,")
    w("// -1 for NONE (0) and for values the schema does not define.")
    w("struct UnionDesc {")
    w("  const char* name;")
    w("  uint16_t first_member;")
    w("  uint16_t num_members;  // largest type value + 1")
    w("};")
    w("")
    kinds = {
        "scalar": "kScalar",
        "string": "kString",
        "table": "kTable",
        "union": "kUnion",
        "scalar_vector": "kScalarVector",
        "table_vector": "kTableVector",
    }
    w("inline constexpr FieldDesc kFields[] = {")
    first: dict[str, int] = {}
    n = 0
    for name in order:
        first[name] = n
        w(f"    // {name}")
        for f in tables[name].fields:
            ref = (
                index[f.ref]
                if f.kind in ("table", "table_vector")
                else (union_index[f.ref] if f.kind == "union" else -1)
            )
            sub = "true" if f.subgraph_ref else "false"
            w(f'    {{"{f.name}", {f.id}, Kind::{kinds[f.kind]}, {f.size}, {ref}, {sub}}},')
            n += 1
    w("};")
    w("")
    w("inline constexpr TableDesc kTables[] = {")
    for i, name in enumerate(order):
        w(f'    {{"{name}", {first[name]}, {len(tables[name].fields)}}},  // {i}')
    w("};")
    w("")
    w("inline constexpr int16_t kUnionMembers[] = {")
    member_first: dict[str, int] = {}
    m = 0
    for u in union_order:
        members = unions[u]
        count = max(members.values()) + 1
        by_value = {v: k for k, v in members.items()}
        member_first[u] = m
        row = [
            str(index[by_value[v]]) if v in by_value and by_value[v] != "NONE" else "-1"
            for v in range(count)
        ]
        w(f"    // {u}")
        for i in range(0, len(row), 16):
            w("    " + ", ".join(row[i : i + 16]) + ",")
        m += count
    w("};")
    w("")
    w("inline constexpr UnionDesc kUnions[] = {")
    for u in union_order:
        w(f'    {{"{u}", {member_first[u]}, {max(unions[u].values()) + 1}}},')
    w("};")
    w("")
    w("// Core tables (reachable from Model other than through operator options).")
    for name in core:
        w(f"namespace {name} {{")
        w(f"inline constexpr int kTable = {index[name]};")
        for f in tables[name].fields:
            w(f"inline constexpr uint16_t {f.name} = {f.id};")
        w(f"}}  // namespace {name}")
    w("")
    w(f"inline constexpr int kNumTables = {len(order)};")
    w(f"inline constexpr int kNumFields = {n};")
    tensor_types = _enum_members(schema.TensorType)
    names = {v: k for k, v in tensor_types.items()}
    w("")
    w("// TensorType names by value (values 0..kNumTensorTypes-1 are all defined).")
    assert sorted(names) == list(range(len(names))), "TensorType values are not contiguous"
    w(f"inline constexpr int kNumTensorTypes = {len(names)};")
    w("inline constexpr const char* kTensorTypeNames[] = {")
    for i in range(0, len(names), 6):
        w("    " + " ".join(f'"{names[v]}",' for v in range(i, min(i + 6, len(names)))))
    w("};")
    ops = _enum_members(schema.BuiltinOperator)
    w("")
    w("// BuiltinOperator: codes 0..kNumBuiltinOperators-1; CUSTOM needs a custom_code.")
    num_ops = max(ops.values()) + 1
    w(f"inline constexpr int kNumBuiltinOperators = {num_ops};")
    op_names = {v: k for k, v in ops.items()}
    w('inline constexpr const char* kBuiltinOperatorNames[] = {  // "" for unused codes')
    for i in range(0, num_ops, 4):
        w("    " + " ".join(f'"{op_names.get(v, "")}",' for v in range(i, min(i + 4, num_ops))))
    w("};")
    w("enum class BuiltinOperator : int32_t {")
    for v in range(num_ops):
        if v in op_names:
            w(f"  {op_names[v]} = {v},")
    w("};")
    w(f"inline constexpr int kBuiltinOperatorCustom = {ops['CUSTOM']};")
    w("")
    w("}  // namespace litegen::tflite_schema")
    w("")
    w("#endif  // LITEGEN_THIRD_PARTY_LITERT_TFLITE_SCHEMA_TABLE_H_")
    return "\n".join(out) + "\n"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="fail if the output is stale")
    args = parser.parse_args()
    import ai_edge_litert
    from ai_edge_litert import schema_py_generated

    text = generate(schema_py_generated, ai_edge_litert.__version__)
    if args.check:
        if OUTPUT.read_text() != text:
            print(f"{OUTPUT} is stale: rerun {Path(__file__).name}", file=sys.stderr)
            return 1
        return 0
    OUTPUT.write_text(text)
    print(f"wrote {OUTPUT}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
