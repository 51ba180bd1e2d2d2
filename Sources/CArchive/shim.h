// CArchive: libarchive's read and write API for Swift (tar shards of images).
#ifndef REIDPRUNE_CARCHIVE_SHIM_H
#define REIDPRUNE_CARCHIVE_SHIM_H
#include <archive.h>
#include <archive_entry.h>
static inline int reidprune_archive_ok(void) { return ARCHIVE_OK; }
static inline int reidprune_archive_eof(void) { return ARCHIVE_EOF; }
static inline int reidprune_archive_warn(void) { return ARCHIVE_WARN; }
static inline unsigned int reidprune_archive_regular_file(void) { return AE_IFREG; }
#endif
