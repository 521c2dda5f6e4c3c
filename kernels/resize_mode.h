// How images are resized to the network input (the preprocess metadata's "resize", --resize); the math of
// each mode is in preprocess_math.h (PIL's, cv2's) or tf_resize_math.h (TensorFlow's). Its own header so that
// the engine's options (engine/model/options.h) name it without the kernel math.
#pragma once

namespace cam {

enum class ResizeMode : int {
  kPilBilinear = 0,    // PIL's Image.resize(size, BILINEAR), antialiased: torchvision's PIL pipelines
  kPilNearest = 1,     // PIL's Image.resize(size, NEAREST): Keras load_img's default
  kCvLinear = 2,       // OpenCV's cv2.resize(..., INTER_LINEAR): not antialiased, cv2-based pipelines
  kCvArea = 3,         // OpenCV's cv2.resize(..., INTER_AREA): cell averages when shrinking
  kPil12Bilinear = 4,  // kPilBilinear as Pillow up to 12 (Debian 12's 9.4) ran it: the horizontal pass first
  kPilBicubic = 5,    // PIL's Image.resize(size, BICUBIC), antialiased: timm's eval transforms, torchvision's
                      // Resize(interpolation=BICUBIC)
  kPil12Bicubic = 6,  // kPilBicubic as Pillow up to 12 ran it: the horizontal pass first
  kTfBilinear = 7,    // tf.image.resize(size, "bilinear"), float output: Keras image_dataset_from_directory
  kTfBilinearAntialias = 8,  // tf.image.resize(size, "bilinear", antialias=True)
};

}  // namespace cam
