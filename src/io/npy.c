/* io/npy.c — stub while the NPY reader is written. */
#include "io/io_util.h"
