// CTurboJPEG: libjpeg-turbo's TurboJPEG API for Swift (decode and encode of JPEG).
#ifndef REIDPRUNE_CTURBOJPEG_SHIM_H
#define REIDPRUNE_CTURBOJPEG_SHIM_H
#include <turbojpeg.h>
#endif
