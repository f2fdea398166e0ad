from .capsule import MarginLoss, PrimaryCapsules, RoutingCapsules
