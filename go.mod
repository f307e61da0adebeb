module github.com/tumortracer/tumortracer

go 1.26

require (
	fyne.io/fyne/v2 v2.8.1 // indirect
	github.com/disintegration/imaging v1.6.2 // indirect
	github.com/suyashkumar/dicom v1.1.0 // indirect
	github.com/yalue/onnxruntime_go v1.36.0 // indirect
	golang.org/x/exp v0.0.0-20240525044651-4c93da0ed11d // indirect
	golang.org/x/image v0.24.0 // indirect
	golang.org/x/text v0.22.0 // indirect
	gopkg.in/yaml.v3 v3.0.1 // indirect
)
