// Model program resnet50: the one source file cnnc_add_model(resnet50 ...) needs.
#include "resnet.h"

CNNC_MODEL(cnnc::arch::resnet50)
