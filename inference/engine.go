package inference

import (
	"context"
	"errors"
	"fmt"
	"image"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	ort "github.com/yalue/onnxruntime_go"

	_ "github.com/tumortracer/tumortracer/internal/nativemem" // ONNX Runtime's buffers go back to the system when freed
)

// Device is an execution-provider choice.
type Device string

// Device choices: auto tries CUDA and falls back to the CPU without noise; cuda fails when CUDA is unavailable.
const (
	DeviceAuto Device = "auto"
	DeviceCPU  Device = "cpu"
	DeviceCUDA Device = "cuda"
)

// ParseDevice accepts auto, cpu or cuda (case-insensitive).
func ParseDevice(s string) (Device, error) {
	switch d := Device(strings.ToLower(strings.TrimSpace(s))); d {
	case DeviceAuto, DeviceCPU, DeviceCUDA:
		return d, nil
	}
	return "", fmt.Errorf("device %q: %w (want auto, cpu or cuda)", s, ErrDeviceUnavailable)
}

// Options configures an Engine.
type Options struct {
	Device Device // default auto
	// LibraryPath is the ONNX Runtime library (the --ort-lib flag); empty searches as LibraryCandidates says.
	LibraryPath string
	// BatchSize is the most images run through the model at once (default 8).
	BatchSize int
	// Threads is ONNX Runtime's intra-op thread count; 0 lets it use every core.
	Threads int
	// SpinWait lets ONNX Runtime's intra-op threads spin between parallel sections instead of sleeping. Off by
	// default: the batch decodes images on the same cores while the model runs, and spinning threads took their
	// time (a third more CPU for the same `classify` of 624 chest X-rays on two cores).
	SpinWait bool
}

// ClassProbability is one class's post-softmax probability.
type ClassProbability struct {
	ID          string
	Name        string
	Probability float64
}

// Timing is the time one prediction spent in each stage; batched stages are divided evenly among the batch.
type Timing struct {
	Preprocess, Forward, Saliency time.Duration
}

// Prediction is a model's answer for one image.
type Prediction struct {
	ModelID, ModelVersion, ModelTitle string
	// Device is the execution provider that actually ran the model: "cpu" or "cuda".
	Device  string
	Classes []ClassProbability // in the manifest's class order
	// Label is the predicted class id, LabelName its display name and Probability its probability.
	Label, LabelName string
	Probability      float64
	// Threshold is the decision threshold on the positive class for binary models, 0 otherwise.
	Threshold float64
	Logits    []float32
	// Features is the model's pooled feature vector (OutputSpec.Features) for this image; nil when the model
	// declares none. Scope.Score measures how far it lies from the model's training data.
	Features []float32
	// Saliency is set when asked for: the map for the predicted class, on its own grid (see Saliency).
	Saliency *Saliency
	Timing   Timing
}

// Engine runs models: one ONNX Runtime session per model, created on first use and reused. It is safe for
// concurrent use; runs of the same model are serialised.
type Engine struct {
	opts Options
	mu   sync.Mutex
	sess map[*Model]*session
	// failed remembers why a model's session could not be created, so that a batch does not retry per image.
	failed map[*Model]error
}

// NewEngine initialises ONNX Runtime (once per process) and returns an engine. The error wraps
// ErrRuntimeMissing when the library cannot be found, and ErrDeviceUnavailable for an unknown device.
func NewEngine(opts Options) (*Engine, error) {
	if opts.Device == "" {
		opts.Device = DeviceAuto
	}
	if _, err := ParseDevice(string(opts.Device)); err != nil {
		return nil, err
	}
	if opts.BatchSize < 1 {
		opts.BatchSize = 8
	}
	if _, err := InitRuntime(opts.LibraryPath); err != nil {
		return nil, err
	}
	return &Engine{opts: opts, sess: map[*Model]*session{}, failed: map[*Model]error{}}, nil
}

// Close releases every session. The engine must not be used afterwards.
func (e *Engine) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	var errs []error
	for m, s := range e.sess {
		errs = append(errs, s.close())
		delete(e.sess, m)
	}
	return errors.Join(errs...)
}

// Device returns the execution provider the model runs on ("cpu" or "cuda"), creating its session if needed.
func (e *Engine) Device(m *Model) (string, error) {
	s, err := e.session(m)
	if err != nil {
		return "", err
	}
	return s.device, nil
}

// session holds one model's ORT session and its preallocated tensors, one set per batch size used.
type session struct {
	mu     sync.Mutex
	model  *Model
	ort    *ort.DynamicAdvancedSession
	device string
	hasCAM bool
	camH   int // 0 when the CAM's spatial size is dynamic
	camW   int
	// featIdx is the features output's index in the outputs (0 when the model declares none); featDim its
	// static width (0 when dynamic).
	featIdx int
	featDim int
	tensors map[int]*batchTensors
}

type batchTensors struct {
	input   *ort.Tensor[float32]
	outputs []ort.Value // nil entries are allocated by ORT on each run
}

func (e *Engine) session(m *Model) (*session, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if s, ok := e.sess[m]; ok {
		return s, nil
	}
	if err, ok := e.failed[m]; ok {
		return nil, err
	}
	s, err := newSession(m, e.opts)
	if err != nil {
		e.failed[m] = err
		return nil, err
	}
	e.sess[m] = s
	return s, nil
}

func newSession(m *Model, opts Options) (*session, error) {
	data, err := m.ONNX()
	if err != nil {
		return nil, err
	}
	ins, outs, err := ort.GetInputOutputInfoWithONNXData(data)
	if err != nil {
		return nil, fmt.Errorf("model %s: %w: onnx runtime cannot read model.onnx: %w", m.Manifest.ID, ErrInvalidManifest, err)
	}
	if err := m.Manifest.CheckTensors(tensorInfos(ins), tensorInfos(outs)); err != nil {
		return nil, fmt.Errorf("model %s: %w", m.Manifest.ID, err)
	}
	outNames := []string{m.Manifest.Outputs.Logits}
	s := &session{model: m, tensors: map[int]*batchTensors{}}
	if m.Manifest.Outputs.CAM != "" {
		outNames = append(outNames, m.Manifest.Outputs.CAM)
		s.hasCAM = true
		for _, o := range outs {
			if o.Name == m.Manifest.Outputs.CAM && o.Dimensions[2] > 0 && o.Dimensions[3] > 0 {
				s.camH, s.camW = int(o.Dimensions[2]), int(o.Dimensions[3])
			}
		}
	}
	if m.Manifest.Outputs.Features != "" {
		s.featIdx = len(outNames)
		outNames = append(outNames, m.Manifest.Outputs.Features)
		for _, o := range outs {
			if o.Name == m.Manifest.Outputs.Features && o.Dimensions[1] > 0 {
				s.featDim = int(o.Dimensions[1])
			}
		}
	}
	create := func(cuda bool) (*ort.DynamicAdvancedSession, error) {
		so, err := ort.NewSessionOptions()
		if err != nil {
			return nil, err
		}
		defer so.Destroy()
		if opts.Threads > 0 {
			if err := so.SetIntraOpNumThreads(opts.Threads); err != nil {
				return nil, err
			}
		}
		if !opts.SpinWait {
			if err := so.AddSessionConfigEntry("session.intra_op.allow_spinning", "0"); err != nil {
				return nil, err
			}
		}
		if cuda {
			co, err := ort.NewCUDAProviderOptions()
			if err != nil {
				return nil, err
			}
			err = so.AppendExecutionProviderCUDA(co)
			co.Destroy()
			if err != nil {
				return nil, err
			}
		}
		return ort.NewDynamicAdvancedSessionWithONNXData(data, []string{m.Manifest.Input.Name}, outNames, so)
	}
	if opts.Device == DeviceAuto || opts.Device == DeviceCUDA {
		// ORT logs its failure to load the CUDA provider at error level; the outcome is reported through the
		// returned error (cuda) or the device in every result (auto), so the log is quietened for the attempt.
		cudaAttempt.Lock()
		_ = ort.SetEnvironmentLogLevel(ort.LoggingLevelFatal)
		var cudaErr error
		s.ort, cudaErr = create(true)
		_ = ort.SetEnvironmentLogLevel(ort.LoggingLevelError)
		cudaAttempt.Unlock()
		if cudaErr == nil {
			s.device = string(DeviceCUDA)
		} else if opts.Device == DeviceCUDA {
			return nil, fmt.Errorf("model %s: %w: cuda cannot be used (%v); %s, or use --device cpu",
				m.Manifest.ID, ErrDeviceUnavailable, firstLine(cudaErr), cudaAdvice(runtimeLibrary()))
		}
	}
	if s.ort == nil {
		s.ort, err = create(false)
		if err != nil {
			return nil, fmt.Errorf("model %s: onnx runtime cannot create a session: %w", m.Manifest.ID, err)
		}
		s.device = string(DeviceCPU)
	}
	return s, nil
}

// cudaAdvice says what to install for the CUDA provider next to the ONNX Runtime library lib.
func cudaAdvice(lib string) string {
	dir := filepath.Dir(lib)
	present := true
	for _, n := range []string{"libonnxruntime_providers_shared.so", "libonnxruntime_providers_cuda.so"} {
		if _, err := os.Stat(filepath.Join(dir, n)); err != nil {
			present = false
		}
	}
	if present && filepath.IsAbs(lib) {
		return "the CUDA provider libraries are beside " + lib + " but did not load: they need an NVIDIA driver and the CUDA 13 and cuDNN 9 libraries (libcudart.so.13, libcublas.so.13, libcudnn.so.9) on the loader path, e.g. LD_LIBRARY_PATH"
	}
	return "put libonnxruntime_providers_shared.so and libonnxruntime_providers_cuda.so (ONNX Runtime 1.29) beside " + lib + " and install an NVIDIA driver with CUDA 13 and cuDNN 9"
}

// cudaAttempt serialises CUDA attempts, which change the process-wide ORT log level.
var cudaAttempt sync.Mutex

func firstLine(err error) string {
	s, _, _ := strings.Cut(err.Error(), "\n")
	return s
}

func tensorInfos(list []ort.InputOutputInfo) []TensorInfo {
	out := make([]TensorInfo, len(list))
	for i, t := range list {
		out[i] = TensorInfo{
			Name:    t.Name,
			Float32: t.OrtValueType == ort.ONNXTypeTensor && t.DataType == ort.TensorElementDataTypeFloat,
			Shape:   append([]int64(nil), t.Dimensions...),
		}
	}
	return out
}

func (s *session) close() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	var errs []error
	for n, t := range s.tensors {
		errs = append(errs, t.destroy())
		delete(s.tensors, n)
	}
	if s.ort != nil {
		errs = append(errs, s.ort.Destroy())
		s.ort = nil
	}
	return errors.Join(errs...)
}

func (t *batchTensors) destroy() error {
	var errs []error
	if t.input != nil {
		errs = append(errs, t.input.Destroy())
	}
	for _, o := range t.outputs {
		if o != nil {
			errs = append(errs, o.Destroy())
		}
	}
	return errors.Join(errs...)
}

// tensorsFor returns the preallocated tensors for a batch of n images.
func (s *session) tensorsFor(n int) (*batchTensors, error) {
	if t, ok := s.tensors[n]; ok {
		return t, nil
	}
	in := s.model.Manifest.Input
	k := int64(len(s.model.Manifest.Classes))
	t := &batchTensors{}
	var err error
	t.input, err = ort.NewEmptyTensor[float32](ort.NewShape(int64(n), int64(in.Channels), int64(in.Height), int64(in.Width)))
	if err != nil {
		return nil, fmt.Errorf("allocate input tensor: %w", err)
	}
	logits, err := ort.NewEmptyTensor[float32](ort.NewShape(int64(n), k))
	if err != nil {
		t.destroy()
		return nil, fmt.Errorf("allocate output tensor: %w", err)
	}
	t.outputs = append(t.outputs, logits)
	if s.hasCAM {
		if s.camH > 0 {
			cam, err := ort.NewEmptyTensor[float32](ort.NewShape(int64(n), k, int64(s.camH), int64(s.camW)))
			if err != nil {
				t.destroy()
				return nil, fmt.Errorf("allocate output tensor: %w", err)
			}
			t.outputs = append(t.outputs, cam)
		} else {
			t.outputs = append(t.outputs, nil)
		}
	}
	if s.featIdx > 0 {
		if s.featDim > 0 {
			f, err := ort.NewEmptyTensor[float32](ort.NewShape(int64(n), int64(s.featDim)))
			if err != nil {
				t.destroy()
				return nil, fmt.Errorf("allocate output tensor: %w", err)
			}
			t.outputs = append(t.outputs, f)
		} else {
			t.outputs = append(t.outputs, nil)
		}
	}
	s.tensors[n] = t
	return t, nil
}

// runOutputs are one run's outputs; the slices are only valid until the session's next run.
type runOutputs struct {
	logits []float32 // [n,K]
	cams   []float32 // [n,K,camH,camW] when the model has a CAM
	camH   int
	camW   int
	feats  []float32 // [n,featDim] when the model declares features
	featW  int
}

// run runs the session on t (input already filled) and returns its outputs: the logits and, when the model has
// them, the CAMs and the pooled features. Outputs ORT allocated (dynamic shapes) are copied out and released.
func (s *session) run(t *batchTensors) (runOutputs, error) {
	var r runOutputs
	outs := append([]ort.Value(nil), t.outputs...)
	id := s.model.Manifest.ID
	if err := s.ort.Run([]ort.Value{t.input}, outs); err != nil {
		return r, fmt.Errorf("model %s: run: %w", id, err)
	}
	// release frees the outputs ORT allocated for this run (nil entries of t.outputs).
	release := func() {
		for i, o := range outs {
			if t.outputs[i] == nil && o != nil {
				o.Destroy()
			}
		}
	}
	defer release()
	n := t.input.GetShape()[0]
	r.logits = outs[0].(*ort.Tensor[float32]).GetData()
	if s.hasCAM {
		ct, ok := outs[1].(*ort.Tensor[float32])
		if !ok {
			return r, fmt.Errorf("model %s: %w: cam output is not a float32 tensor", id, ErrInvalidManifest)
		}
		shape := ct.GetShape()
		k := int64(len(s.model.Manifest.Classes))
		if len(shape) != 4 || shape[1] != k || shape[0]*shape[1]*shape[2]*shape[3] != int64(len(ct.GetData())) {
			return r, fmt.Errorf("model %s: %w: cam output has shape %v, want [N,%d,h,w]", id, ErrInvalidManifest, shape, k)
		}
		r.cams, r.camH, r.camW = ct.GetData(), int(shape[2]), int(shape[3])
		if t.outputs[1] == nil {
			r.cams = append([]float32(nil), r.cams...)
		}
	}
	if s.featIdx > 0 {
		ft, ok := outs[s.featIdx].(*ort.Tensor[float32])
		if !ok {
			return r, fmt.Errorf("model %s: %w: features output is not a float32 tensor", id, ErrInvalidManifest)
		}
		shape := ft.GetShape()
		if len(shape) != 2 || shape[0] != n || shape[1] < 1 || shape[0]*shape[1] != int64(len(ft.GetData())) {
			return r, fmt.Errorf("model %s: %w: features output has shape %v, want [%d,C]", id, ErrInvalidManifest, shape, n)
		}
		r.feats, r.featW = ft.GetData(), int(shape[1])
		if t.outputs[s.featIdx] == nil {
			r.feats = append([]float32(nil), r.feats...)
		}
	}
	return r, nil
}

// Classify runs m on each image (8-bit display images; see Preprocess) in batches of Options.BatchSize and returns
// one prediction per image. With saliency, each prediction carries the map for its predicted class: the model's
// CAM when it has one, else occlusion sensitivity. ctx is checked between batches.
func (e *Engine) Classify(ctx context.Context, m *Model, images []image.Image, saliency bool) ([]Prediction, error) {
	s, err := e.session(m)
	if err != nil {
		return nil, err
	}
	out := make([]Prediction, 0, len(images))
	for start := 0; start < len(images); start += e.opts.BatchSize {
		if err := ctx.Err(); err != nil {
			return out, err
		}
		end := min(start+e.opts.BatchSize, len(images))
		preds, err := e.classifyBatch(ctx, s, images[start:end], saliency)
		if err != nil {
			return out, err
		}
		out = append(out, preds...)
	}
	return out, nil
}

func (e *Engine) classifyBatch(ctx context.Context, s *session, images []image.Image, saliency bool) ([]Prediction, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ort == nil {
		return nil, fmt.Errorf("model %s: the engine is closed", s.model.Manifest.ID)
	}
	man := &s.model.Manifest
	n := len(images)
	t, err := s.tensorsFor(n)
	if err != nil {
		return nil, err
	}
	plane := man.Input.Channels * man.Input.Height * man.Input.Width
	data := t.input.GetData()
	t0 := time.Now()
	for i, img := range images {
		if err := Preprocess(img, man.Input, man.Preprocessing, data[i*plane:(i+1)*plane]); err != nil {
			return nil, fmt.Errorf("image %d: %w", i, err)
		}
	}
	t1 := time.Now()
	r, err := s.run(t)
	if err != nil {
		return nil, err
	}
	t2 := time.Now()
	k := len(man.Classes)
	preds := make([]Prediction, n)
	for i := range preds {
		p := s.predict(r.logits[i*k : (i+1)*k])
		if r.feats != nil {
			p.Features = append([]float32(nil), r.feats[i*r.featW:(i+1)*r.featW]...)
		}
		p.Timing = Timing{Preprocess: t1.Sub(t0) / time.Duration(n), Forward: t2.Sub(t1) / time.Duration(n)}
		preds[i] = p
	}
	if !saliency {
		return preds, nil
	}
	var inputs []float32
	if !s.hasCAM {
		// Occlusion runs reuse the input tensors: keep this batch's inputs.
		inputs = append([]float32(nil), data[:n*plane]...)
	}
	for i := range preds {
		ts := time.Now()
		cls := man.ClassIndex(preds[i].Label)
		var sal *Saliency
		if s.hasCAM {
			m := append([]float32(nil), r.cams[(i*k+cls)*r.camH*r.camW:(i*k+cls+1)*r.camH*r.camW]...)
			normalise(m)
			sal = &Saliency{Method: SaliencyCAM, Values: m, Width: r.camW, Height: r.camH}
		} else {
			m, err := s.occlusion(ctx, inputs[i*plane:(i+1)*plane], cls, preds[i].Classes[cls].Probability)
			if err != nil {
				return nil, err
			}
			sal = &Saliency{Method: SaliencyOcclusion, Values: m, Width: man.Input.Width, Height: man.Input.Height}
		}
		sal.Class = preds[i].Label
		preds[i].Saliency = sal
		preds[i].Timing.Saliency = time.Since(ts)
	}
	return preds, nil
}

// predict turns one image's raw outputs into a Prediction (without saliency or timing).
func (s *session) predict(raw []float32) Prediction {
	man := &s.model.Manifest
	var probs []float64
	if man.Outputs.Kind == "probabilities" {
		probs = make([]float64, len(raw))
		for j, v := range raw {
			probs[j] = float64(v)
		}
	} else {
		probs = Softmax(raw, man.Outputs.Temperature)
	}
	label, p := Decide(man, probs)
	pred := Prediction{
		ModelID: man.ID, ModelVersion: man.Version, ModelTitle: man.Title, Device: s.device,
		Label: man.Classes[label].ID, LabelName: man.Classes[label].Name, Probability: p,
		Logits: append([]float32(nil), raw...),
	}
	if len(man.Classes) == 2 {
		pred.Threshold = man.Threshold
	}
	for j, c := range man.Classes {
		pred.Classes = append(pred.Classes, ClassProbability{ID: c.ID, Name: c.Name, Probability: probs[j]})
	}
	return pred
}

// occlusion computes occlusion sensitivity at the model's input size for class cls, given the preprocessed input
// base and the unoccluded probability p0: each window (see OcclusionWindow) is set to 0 — the normalised mean —
// and the drop in probability, floored at 0, is averaged over the windows covering each pixel, then normalised.
// The caller holds s.mu.
func (s *session) occlusion(ctx context.Context, base []float32, cls int, p0 float64) ([]float32, error) {
	man := &s.model.Manifest
	C, H, W := man.Input.Channels, man.Input.Height, man.Input.Width
	win, stride := OcclusionWindow(W, H)
	wx, wy := min(win, W), min(win, H)
	type pos struct{ x, y int }
	var ps []pos
	for y := 0; ; y += stride {
		y = min(y, H-wy)
		for x := 0; ; x += stride {
			x = min(x, W-wx)
			ps = append(ps, pos{x, y})
			if x+wx >= W {
				break
			}
		}
		if y+wy >= H {
			break
		}
	}
	sum := make([]float32, H*W)
	cnt := make([]float32, H*W)
	batch := min(len(ps), 16)
	plane := C * H * W
	k := len(man.Classes)
	for start := 0; start < len(ps); start += batch {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		chunk := ps[start:min(start+batch, len(ps))]
		t, err := s.tensorsFor(len(chunk))
		if err != nil {
			return nil, err
		}
		data := t.input.GetData()
		for i, p := range chunk {
			dst := data[i*plane : (i+1)*plane]
			copy(dst, base)
			for c := 0; c < C; c++ {
				for y := p.y; y < p.y+wy; y++ {
					clear(dst[c*H*W+y*W+p.x : c*H*W+y*W+p.x+wx])
				}
			}
		}
		r, err := s.run(t)
		if err != nil {
			return nil, err
		}
		for i, p := range chunk {
			probs := s.predict(r.logits[i*k : (i+1)*k]).Classes
			drop := float32(max(0, p0-probs[cls].Probability))
			for y := p.y; y < p.y+wy; y++ {
				for x := p.x; x < p.x+wx; x++ {
					sum[y*W+x] += drop
					cnt[y*W+x]++
				}
			}
		}
	}
	for i := range sum {
		if cnt[i] > 0 {
			sum[i] /= cnt[i]
		}
	}
	normalise(sum)
	return sum, nil
}
