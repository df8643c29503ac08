// Model program vgg16: the one source file cnnc_add_model(vgg16 ...) needs.
#include "vgg.h"

CNNC_MODEL(cnnc::arch::vgg16)
