// Model program vgg16_bn: the one source file cnnc_add_model(vgg16_bn ...) needs.
#include "vgg.h"

CNNC_MODEL(cnnc::arch::vgg16_bn)
