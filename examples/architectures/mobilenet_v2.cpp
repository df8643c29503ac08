// Model program mobilenet_v2: the one source file cnnc_add_model(mobilenet_v2 ...) needs.
#include "mobilenet.h"

CNNC_MODEL(cnnc::arch::mobilenet_v2)
