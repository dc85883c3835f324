public import GraftCore
