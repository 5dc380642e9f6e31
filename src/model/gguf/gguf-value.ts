/**
 * GGUF metadata values: the on-disk type ids (enum gguf_type in llama.cpp's gguf.h) and a tagged JS form used by
 * both the writer and the reader. 64-bit integers are bigint; every other number is a JS number.
 */

export const GgufValueTypeId = {
  uint8: 0,
  int8: 1,
  uint16: 2,
  int16: 3,
  uint32: 4,
  int32: 5,
  float32: 6,
  bool: 7,
  string: 8,
  array: 9,
  uint64: 10,
  int64: 11,
  float64: 12,
} as const;
export type GgufValueType = keyof typeof GgufValueTypeId;

export const GGUF_TYPE_BY_ID: ReadonlyMap<number, GgufValueType> = new Map(
  Object.entries(GgufValueTypeId).map(([name, id]) => [id, name as GgufValueType]),
);

export type GgufNumberType =
  "uint8" | "int8" | "uint16" | "int16" | "uint32" | "int32" | "float32" | "float64";
export type GgufBigIntType = "uint64" | "int64";
export type GgufScalarType = GgufNumberType | GgufBigIntType | "bool" | "string";

export type GgufArrayItem = number | bigint | boolean | string | GgufValue;

export type GgufValue =
  | { type: GgufNumberType; value: number }
  | { type: GgufBigIntType; value: bigint }
  | { type: "bool"; value: boolean }
  | { type: "string"; value: string }
  | { type: "array"; itemType: GgufScalarType | "array"; value: readonly GgufArrayItem[] };

/** Metadata in file order (key → value). */
export type GgufMetadata = Map<string, GgufValue>;

/** Constructors for metadata values. */
export const gguf = {
  u8: (value: number): GgufValue => ({ type: "uint8", value }),
  u32: (value: number): GgufValue => ({ type: "uint32", value }),
  i32: (value: number): GgufValue => ({ type: "int32", value }),
  f32: (value: number): GgufValue => ({ type: "float32", value }),
  u64: (value: number | bigint): GgufValue => ({ type: "uint64", value: BigInt(value) }),
  bool: (value: boolean): GgufValue => ({ type: "bool", value }),
  str: (value: string): GgufValue => ({ type: "string", value }),
  strings: (value: readonly string[]): GgufValue => ({ type: "array", itemType: "string", value }),
  i32s: (value: readonly number[]): GgufValue => ({ type: "array", itemType: "int32", value }),
  array: (itemType: GgufScalarType, value: readonly GgufArrayItem[]): GgufValue => ({
    type: "array",
    itemType,
    value,
  }),
};
