// Model program resnet34: the one source file cnnc_add_model(resnet34 ...) needs.
#include "resnet.h"

CNNC_MODEL(cnnc::arch::resnet34)
