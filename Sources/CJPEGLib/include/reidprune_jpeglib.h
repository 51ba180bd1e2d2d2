// CJPEGLib: cropped and DCT-scaled JPEG decoding through libjpeg-turbo's jpeglib API
// (jpeg_crop_scanline, jpeg_skip_scanlines, scale_denom), with libjpeg's longjmp error
// handling kept inside C. The TurboJPEG API of Debian's 2.1 has no cropped decode.
#ifndef REIDPRUNE_JPEGLIB_H
#define REIDPRUNE_JPEGLIB_H
#include <stddef.h>

/// What a decode reports: the image's size at full scale, whether it decodes to CMYK
/// (4 bytes a pixel, Adobe-inverted as stored), libjpeg's warning count and first warning.
typedef struct {
    int width;
    int height;
    int cmyk;
    int warnings;
    char message[200];
} reidprune_jpeg_result;

/// Reads the header only: width, height, cmyk. Returns 0, or -1 with `message` set.
int reidprune_jpeg_header(const unsigned char *data, size_t size, reidprune_jpeg_result *result);

/// Decodes the region (x, y, w, h), given in the coordinates of the image scaled by
/// 1/scale_denom (1, 2, 4 or 8; the scaled size is ceil(size / scale_denom)), into `out`
/// (h rows of w pixels, 3 bytes RGB, or 4 bytes CMYK when result->cmyk). Accurate integer
/// DCT and fancy upsampling; grayscale decodes to RGB. More than 500 scans is an error.
/// Returns 0, or -1 with result->message set.
int reidprune_jpeg_decode_region(const unsigned char *data, size_t size, int scale_denom,
                                 int x, int y, int w, int h, unsigned char *out,
                                 reidprune_jpeg_result *result);
#endif
