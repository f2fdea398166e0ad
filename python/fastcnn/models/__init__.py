"""fastcnn.models: reference models built from fastcnn.nn layers."""
from .convlstm import ConvLSTMPredictor, convlstm_predictor
