// CPNG: libpng's simplified read API (png_image) for Swift, to decode PNG crops
// (CUHK03-NP ships PNG).
#ifndef REIDPRUNE_CPNG_SHIM_H
#define REIDPRUNE_CPNG_SHIM_H
#include <png.h>
static inline int reidprune_png_format_rgb(void) { return PNG_FORMAT_RGB; }
static inline unsigned int reidprune_png_image_version(void) { return PNG_IMAGE_VERSION; }
static inline size_t reidprune_png_image_size(png_imagep image) { return PNG_IMAGE_SIZE(*image); }
static inline int reidprune_png_failed(png_imagep image) { return PNG_IMAGE_FAILED(*image); }
#endif
