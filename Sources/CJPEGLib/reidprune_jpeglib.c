// CJPEGLib: see include/reidprune_jpeglib.h. Errors longjmp back to the entry point that
// set up the decompressor, which destroys it and returns -1 with libjpeg's message.
#include "reidprune_jpeglib.h"
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <jpeglib.h>

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    reidprune_jpeg_result *result;
} error_manager;

typedef struct {
    struct jpeg_progress_mgr pub;
    error_manager *errors;
} progress_manager;

static void on_error(j_common_ptr c) {
    error_manager *e = (error_manager *)c->err;
    char text[JMSG_LENGTH_MAX];
    (*c->err->format_message)(c, text);
    snprintf(e->result->message, sizeof e->result->message, "%s", text);
    longjmp(e->jump, 1);
}

static void on_message(j_common_ptr c, int level) {
    if (level >= 0) return;  // trace messages
    error_manager *e = (error_manager *)c->err;
    if (e->result->warnings++ == 0) {
        char text[JMSG_LENGTH_MAX];
        (*c->err->format_message)(c, text);
        snprintf(e->result->message, sizeof e->result->message, "%s", text);
    }
}

static void on_progress(j_common_ptr c) {
    progress_manager *p = (progress_manager *)c->progress;
    j_decompress_ptr d = (j_decompress_ptr)c;
    if (c->is_decompressor && d->input_scan_number > 500) {
        snprintf(p->errors->result->message, sizeof p->errors->result->message,
                 "progressive JPEG with more than 500 scans");
        longjmp(p->errors->jump, 1);
    }
}

static int is_cmyk(j_decompress_ptr d) {
    return d->jpeg_color_space == JCS_CMYK || d->jpeg_color_space == JCS_YCCK;
}

int reidprune_jpeg_header(const unsigned char *data, size_t size, reidprune_jpeg_result *result) {
    struct jpeg_decompress_struct d;
    error_manager e;
    memset(result, 0, sizeof *result);
    e.result = result;
    d.err = jpeg_std_error(&e.pub);
    e.pub.error_exit = on_error;
    e.pub.emit_message = on_message;
    if (setjmp(e.jump)) {
        jpeg_destroy_decompress(&d);
        return -1;
    }
    jpeg_create_decompress(&d);
    jpeg_mem_src(&d, data, (unsigned long)size);
    jpeg_read_header(&d, TRUE);
    result->width = (int)d.image_width;
    result->height = (int)d.image_height;
    result->cmyk = is_cmyk(&d);
    jpeg_destroy_decompress(&d);
    return 0;
}

int reidprune_jpeg_decode_region(const unsigned char *data, size_t size, int scale_denom,
                                 int x, int y, int w, int h, unsigned char *out,
                                 reidprune_jpeg_result *result) {
    struct jpeg_decompress_struct d;
    error_manager e;
    progress_manager p;
    JSAMPLE *volatile row = NULL;
    memset(result, 0, sizeof *result);
    e.result = result;
    d.err = jpeg_std_error(&e.pub);
    e.pub.error_exit = on_error;
    e.pub.emit_message = on_message;
    if (setjmp(e.jump)) {
        free(row);
        jpeg_destroy_decompress(&d);
        return -1;
    }
    jpeg_create_decompress(&d);
    p.pub.progress_monitor = on_progress;
    p.errors = &e;
    d.progress = &p.pub;
    jpeg_mem_src(&d, data, (unsigned long)size);
    jpeg_read_header(&d, TRUE);
    result->width = (int)d.image_width;
    result->height = (int)d.image_height;
    result->cmyk = is_cmyk(&d);
    d.out_color_space = result->cmyk ? JCS_CMYK : JCS_RGB;
    d.dct_method = JDCT_ISLOW;
    d.do_fancy_upsampling = TRUE;
    d.scale_num = 1;
    d.scale_denom = (unsigned int)scale_denom;
    jpeg_start_decompress(&d);
    if (x < 0 || y < 0 || w <= 0 || h <= 0 || (JDIMENSION)(x + w) > d.output_width
        || (JDIMENSION)(y + h) > d.output_height) {
        snprintf(result->message, sizeof result->message, "region %dx%d at (%d, %d) outside the %ux%u image",
                 w, h, x, y, d.output_width, d.output_height);
        jpeg_destroy_decompress(&d);
        return -1;
    }
    // Two columns of margin on each side: chroma upsampling at the edges of a cropped
    // scanline replicates the edge sample, so the region's own columns stay interior.
    JDIMENSION left = x >= 2 ? (JDIMENSION)x - 2 : 0;
    JDIMENSION right = (JDIMENSION)(x + w + 2) < d.output_width ? (JDIMENSION)(x + w + 2) : d.output_width;
    JDIMENSION xoffset = left, width = right - left;
    if (width < d.output_width) jpeg_crop_scanline(&d, &xoffset, &width);
    int comps = d.output_components;
    row = malloc((size_t)d.output_width * (size_t)comps);
    if (!row) {
        snprintf(result->message, sizeof result->message, "out of memory");
        jpeg_destroy_decompress(&d);
        return -1;
    }
    if (y > 0) jpeg_skip_scanlines(&d, (JDIMENSION)y);
    size_t shift = (size_t)(x - (int)xoffset) * (size_t)comps, line = (size_t)w * (size_t)comps;
    for (int r = 0; r < h;) {
        JSAMPROW rows[1] = {row};
        if (jpeg_read_scanlines(&d, rows, 1) != 1) {
            snprintf(result->message, sizeof result->message, "the decoder stopped at row %d", y + r);
            free(row);
            jpeg_destroy_decompress(&d);
            return -1;
        }
        memcpy(out + (size_t)r * line, row + shift, line);
        r++;
    }
    free(row);
    row = NULL;
    jpeg_abort_decompress(&d);
    jpeg_destroy_decompress(&d);
    return 0;
}
