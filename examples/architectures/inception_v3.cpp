// Model program inception_v3: the one source file cnnc_add_model(inception_v3 ...) needs.
#include "inception.h"

CNNC_MODEL(cnnc::arch::inception_v3)
