// Global max pooling in one streaming pass, AXI-stream in and out (our StreamingGlobalMaxPool, and FINN's
// Pool with Function MaxPool: Pool_rtl).
//
// Written for this project: FINN builds a global max pool as a sliding window over the whole frame (a
// ConvolutionInputGenerator buffering the frame, then Pool), which reads the frame in a second pass and
// bounds throughput; finn-plus 1.6.1 has no streaming global max (GlobalAccPool sums, StreamingMaxPool
// is gone), and implements Pool only in HLS. Stream order is the frame's own (NHWC): for each position p
// (POSITIONS = H*W), for each channel fold f (FOLDS = C/PE), one beat of PE elements; per frame, for each
// fold, one beat of PE maxima. Element 0 sits in the lowest ELEM_BITS bits of a beat.
//
// Pool after a depthwise sliding window (finn-hlslib's Pool_batch order: per output pixel, for each
// channel fold, the K kernel positions' beats) is this with FOLDS = 1 and POSITIONS = K: each fold's
// window is a frame of its own.
//
// One running maximum per channel (FOLDS entries of PE lanes; distributed RAM when FOLDS > 1). One input
// beat is taken per cycle, so a frame takes POSITIONS * FOLDS cycles. The last position's beat of a fold
// pushes that fold's maxima into a two-beat output queue (output_queue.sv), so in_tready is a register
// function (no combinational path from out_tready), and under back-pressure results queue up while the
// next fold is read, to leave in bursts.
module global_max_pool #(
	int unsigned PE = 1,         // elements per beat
	int unsigned ELEM_BITS = 8,  // bits per element
	bit          SIGNED = 0,     // elements are two's complement
	int unsigned FOLDS = 1,      // channel folds, C / PE
	int unsigned POSITIONS = 4   // spatial positions per frame, H * W
)(
	input	logic  clk,
	input	logic  rst_n,  // synchronous, active low

	input	logic [PE*ELEM_BITS-1:0]  in_tdata,
	input	logic  in_tvalid,
	output	logic  in_tready,

	output	logic [PE*ELEM_BITS-1:0]  out_tdata,
	output	logic  out_tvalid,
	input	logic  out_tready
);
	localparam int unsigned  FBITS = FOLDS > 1 ? $clog2(FOLDS) : 1;
	localparam int unsigned  PBITS = POSITIONS > 1 ? $clog2(POSITIONS) : 1;

	typedef logic [ELEM_BITS-1:0]  elem_t;
	typedef logic [PE*ELEM_BITS-1:0]  beat_t;

	function automatic logic greater(input elem_t a, input elem_t b);
		return SIGNED ? ($signed(a) > $signed(b)) : (a > b);
	endfunction

	logic [FBITS-1:0]  fold;  // channel fold of the next input beat
	logic [PBITS-1:0]  pos;   // spatial position of the next input beat
	beat_t  acc[FOLDS];  // running maxima, one entry per fold
	beat_t  cur;  // the maxima of the current fold so far
	beat_t  res;  // maxima including the current beat
	logic  room;  // in the output queue

	wire  last_fold = fold == FBITS'(FOLDS - 1);
	wire  last_pos = pos == PBITS'(POSITIONS - 1);
	assign	in_tready = !last_pos || room;
	wire  take = in_tvalid && in_tready;
	wire  push = take && last_pos;

	assign	cur = acc[FOLDS > 1 ? fold : 0];
	always_comb begin
		for (int unsigned i = 0; i < PE; i++) begin
			automatic elem_t  x = in_tdata[i*ELEM_BITS +: ELEM_BITS];
			automatic elem_t  m = cur[i*ELEM_BITS +: ELEM_BITS];
			res[i*ELEM_BITS +: ELEM_BITS] = (pos == 0) || greater(x, m) ? x : m;
		end
	end

	always_ff @(posedge clk) begin
		if (!rst_n) begin
			fold <= '0;
			pos <= '0;
		end
		else if (take) begin
			fold <= last_fold ? '0 : fold + 1;
			if (last_fold)  pos <= last_pos ? '0 : pos + 1;
		end
	end

	always_ff @(posedge clk) begin
		if (take)  acc[FOLDS > 1 ? fold : 0] <= res;
	end

	output_queue #(.WIDTH(PE*ELEM_BITS)) queue (
		.clk, .rst_n, .push_data(res), .push, .room, .out_tdata, .out_tvalid, .out_tready
	);

endmodule : global_max_pool
