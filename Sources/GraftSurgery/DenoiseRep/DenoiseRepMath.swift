import GraftCore

/// DenoiseRep's scalar math (time embedding, noise draw): the shared ``Elementary`` functions.
typealias DenoiseRepMath = Elementary
