// Model program resnet101: the one source file cnnc_add_model(resnet101 ...) needs.
#include "resnet.h"

CNNC_MODEL(cnnc::arch::resnet101)
