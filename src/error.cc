// Throwing helper kept out of line so call sites stay one line long.
#include "error.h"

namespace hsmprov {

void fail(int reason, const std::string& message) { throw Error(reason, message); }

}  // namespace hsmprov
