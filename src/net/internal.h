/* Helpers private to src/net. */
#pragma once

#include "lib/err.h"

