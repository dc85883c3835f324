// Graft's window onto libhdf5.
//
// HDF5's constants are macros that call H5open() or read `_g` globals, which Swift 6 cannot import (or imports with
// the wrong integer type). Each one Graft needs is a `static inline` accessor here. The few calls whose signatures
// changed between 1.10 and 1.12+ (link info, object info, vlen reclaim) are wrapped here too, so the Swift side is
// the same for every library version.
#ifndef GRAFT_CHDF5_SHIM_H
#define GRAFT_CHDF5_SHIM_H

#include <hdf5.h>
#include <stdint.h>
#include <string.h>

// MARK: - Property lists, selections, flags

static inline hid_t graft_h5p_default(void) { return H5P_DEFAULT; }
static inline hid_t graft_h5e_default(void) { return H5E_DEFAULT; }
static inline hid_t graft_h5s_all(void) { return H5S_ALL; }
static inline hid_t graft_h5p_file_access(void) { return H5P_FILE_ACCESS; }
static inline hid_t graft_h5p_file_create(void) { return H5P_FILE_CREATE; }
static inline hid_t graft_h5p_group_create(void) { return H5P_GROUP_CREATE; }
static inline hid_t graft_h5p_dataset_create(void) { return H5P_DATASET_CREATE; }
static inline hid_t graft_h5p_attribute_create(void) { return H5P_ATTRIBUTE_CREATE; }
static inline hid_t graft_h5p_link_create(void) { return H5P_LINK_CREATE; }
static inline unsigned graft_h5f_acc_rdonly(void) { return H5F_ACC_RDONLY; }
static inline unsigned graft_h5f_acc_excl(void) { return H5F_ACC_EXCL; }
static inline unsigned graft_h5p_crt_order_tracked(void) { return H5P_CRT_ORDER_TRACKED; }
static inline unsigned graft_h5p_crt_order_indexed(void) { return H5P_CRT_ORDER_INDEXED; }
static inline size_t graft_h5t_variable(void) { return H5T_VARIABLE; }
static inline int graft_haddr_is_undef(haddr_t address) { return address == HADDR_UNDEF; }
static inline int graft_h5z_filter_deflate(void) { return H5Z_FILTER_DEFLATE; }
static inline int graft_h5z_filter_shuffle(void) { return H5Z_FILTER_SHUFFLE; }

// MARK: - Predefined types (owned by the library: never close them)

static inline hid_t graft_h5t_ieee_f32le(void) { return H5T_IEEE_F32LE; }
static inline hid_t graft_h5t_ieee_f64le(void) { return H5T_IEEE_F64LE; }
static inline hid_t graft_h5t_std_i8le(void) { return H5T_STD_I8LE; }
static inline hid_t graft_h5t_std_i16le(void) { return H5T_STD_I16LE; }
static inline hid_t graft_h5t_std_i32le(void) { return H5T_STD_I32LE; }
static inline hid_t graft_h5t_std_i64le(void) { return H5T_STD_I64LE; }
static inline hid_t graft_h5t_std_u8le(void) { return H5T_STD_U8LE; }
static inline hid_t graft_h5t_std_u16le(void) { return H5T_STD_U16LE; }
static inline hid_t graft_h5t_std_u32le(void) { return H5T_STD_U32LE; }
static inline hid_t graft_h5t_std_u64le(void) { return H5T_STD_U64LE; }
static inline hid_t graft_h5t_native_int8(void) { return H5T_NATIVE_INT8; }
static inline hid_t graft_h5t_native_int64(void) { return H5T_NATIVE_INT64; }
static inline hid_t graft_h5t_native_uint64(void) { return H5T_NATIVE_UINT64; }
static inline hid_t graft_h5t_native_double(void) { return H5T_NATIVE_DOUBLE; }
static inline hid_t graft_h5t_c_s1(void) { return H5T_C_S1; }

// MARK: - Calls whose signatures differ between library versions

/// The type of the link `name` in `loc` (H5L_TYPE_HARD, _SOFT, _EXTERNAL, …), or -1.
static inline int graft_h5_link_type(hid_t loc, const char *name) {
#if H5_VERSION_GE(1, 12, 0)
  H5L_info2_t info;
  if (H5Lget_info2(loc, name, &info, H5P_DEFAULT) < 0) return -1;
#else
  H5L_info_t info;
  if (H5Lget_info(loc, name, &info, H5P_DEFAULT) < 0) return -1;
#endif
  return (int)info.type;
}

/// An identity of the object within its file (its header address) and its attribute count; -1 on failure.
static inline int graft_h5_object_info(hid_t object, uint64_t *identity, int64_t *attributeCount) {
#if H5_VERSION_GE(1, 12, 0)
  H5O_info2_t info;
  if (H5Oget_info3(object, &info, H5O_INFO_BASIC | H5O_INFO_NUM_ATTRS) < 0) return -1;
  uint64_t key = 0;
  memcpy(&key, &info.token, sizeof(key) < sizeof(info.token) ? sizeof(key) : sizeof(info.token));
  *identity = key;
#elif H5_VERSION_GE(1, 10, 3)
  H5O_info_t info;
  if (H5Oget_info2(object, &info, H5O_INFO_BASIC | H5O_INFO_NUM_ATTRS) < 0) return -1;
  *identity = (uint64_t)info.addr;
#else
  H5O_info_t info;
  if (H5Oget_info(object, &info) < 0) return -1;
  *identity = (uint64_t)info.addr;
#endif
  *attributeCount = (int64_t)info.num_attrs;
  return 0;
}

/// Frees the strings libhdf5 allocated while reading variable-length data.
static inline herr_t graft_h5_reclaim(hid_t type, hid_t space, void *buffer) {
#if H5_VERSION_GE(1, 12, 0)
  return H5Treclaim(type, space, H5P_DEFAULT, buffer);
#else
  return H5Dvlen_reclaim(type, space, H5P_DEFAULT, buffer);
#endif
}

// MARK: - Error stack

typedef struct {
  char *buffer;
  size_t capacity;
  size_t length;
} graft_h5_error_text_t;

static inline herr_t graft_h5_error_walker(unsigned n, const H5E_error2_t *frame, void *data) {
  (void)n;
  graft_h5_error_text_t *text = (graft_h5_error_text_t *)data;
  const char *parts[4] = {frame->func_name ? frame->func_name : "?", ": ", frame->desc ? frame->desc : "", "\x1f"};
  for (int p = 0; p < 4; p++) {
    for (const char *c = parts[p]; *c && text->length + 1 < text->capacity; c++) {
      text->buffer[text->length++] = (*c == '\n' || *c == '\r') ? ' ' : *c;
    }
  }
  text->buffer[text->length] = 0;
  return 0;
}

/// Writes the current thread's error stack, innermost frame first, as `func: desc` records ended by 0x1F, then
/// clears it. Returns the number of bytes written.
static inline size_t graft_h5_take_error_stack(char *buffer, size_t capacity) {
  if (capacity == 0) return 0;
  graft_h5_error_text_t text = {buffer, capacity, 0};
  buffer[0] = 0;
  H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, graft_h5_error_walker, &text);
  H5Eclear2(H5E_DEFAULT);
  return text.length;
}

/// Initialises the library.
/// Opens the library without its atexit handler: after a failed write (disk full, EIO) a file libhdf5 could not
/// flush stays in its ID table, and closing it again at exit crashes 1.10.8 (SIGSEGV in H5F shutdown). Graft closes
/// every file it opens explicitly, and the kernel closes the descriptors of a failed one.
static inline int graft_h5_initialize(void) {
  H5dont_atexit();
  return H5open() < 0 ? -1 : 0;
}

/// 1 when the linked library was built thread-safe (one global lock around every API call), 0 when not, -1 when it
/// cannot say.
static inline int graft_h5_is_threadsafe(void) {
  hbool_t threadsafe = 0;
  if (H5is_library_threadsafe(&threadsafe) < 0) return -1;
  return threadsafe ? 1 : 0;
}

/// Stops libhdf5 from printing error stacks to stderr. The setting is per thread in thread-safe builds, so it is
/// applied before every entry into the library.
static inline void graft_h5_silence(void) { H5Eset_auto2(H5E_DEFAULT, NULL, NULL); }

#endif
