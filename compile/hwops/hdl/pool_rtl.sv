// Max pooling over a depthwise sliding window, AXI-stream in and out (FINN's Pool, Function MaxPool).
//
// Written for this project because finn-plus 1.6.1 implements Pool only in HLS (Pool_hls, which
// needs Vitis HLS to become RTL), so a network with MaxPool could neither be verilated nor built
// from RTL alone. The stream order is finn-hlslib's Pool_batch on a depthwise
// ConvolutionInputGenerator's output: per output pixel, for each channel fold f (CF = C/PE folds),
// for each kernel position k (K positions), one beat of PE elements; per output pixel, for each fold,
// one beat of PE maxima. Element 0 sits in the lowest ELEM_BITS bits of a beat.
//
// Since the kernel position is the innermost loop, one running maximum per lane suffices. One input
// beat is taken per cycle. The last kernel position of a fold pushes the maxima into a two-beat
// output queue, so in_tready is a register function (no combinational path from out_tready), and
// under random back-pressure results queue up while the next fold is read, to leave in bursts.
module pool_rtl #(
	int unsigned PE = 1,         // elements per beat
	int unsigned ELEM_BITS = 8,  // bits per element
	bit          SIGNED = 0,     // elements are two's complement
	int unsigned K = 4           // kernel positions per output (KernelSize product)
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
	localparam int unsigned  KBITS = K > 1 ? $clog2(K) : 1;
	localparam int unsigned  LAST_K = K - 1;
	localparam int unsigned  QUEUE_DEPTH = 2;

	typedef logic [ELEM_BITS-1:0]  elem_t;
	typedef logic [PE*ELEM_BITS-1:0]  beat_t;

	function automatic logic greater(input elem_t a, input elem_t b);
		return SIGNED ? ($signed(a) > $signed(b)) : (a > b);
	endfunction

	logic [KBITS-1:0]  kpos;  // kernel position of the next input beat
	elem_t  acc[PE];  // running maxima of the current fold
	beat_t  res;  // maxima including the current beat
	beat_t  q[QUEUE_DEPTH];  // output queue, head q[0]
	logic [1:0]  count;  // beats in the queue

	wire  last_k = kpos == KBITS'(LAST_K);
	assign	in_tready = !last_k || count < 2'(QUEUE_DEPTH);
	wire  take = in_tvalid && in_tready;
	wire  push = take && last_k;
	wire  pop = out_tvalid && out_tready;

	always_comb begin
		for (int unsigned i = 0; i < PE; i++) begin
			automatic elem_t  x = in_tdata[i*ELEM_BITS +: ELEM_BITS];
			res[i*ELEM_BITS +: ELEM_BITS] = (kpos == 0) || greater(x, acc[i]) ? x : acc[i];
		end
	end

	always_ff @(posedge clk) begin
		if (!rst_n) begin
			kpos <= '0;
			count <= '0;
		end
		else begin
			if (take)  kpos <= last_k ? '0 : kpos + 1;
			count <= count + 2'(push) - 2'(pop);
		end
	end

	always_ff @(posedge clk) begin
		if (take) begin
			for (int unsigned i = 0; i < PE; i++)  acc[i] <= res[i*ELEM_BITS +: ELEM_BITS];
		end
		// the queue: a pop shifts q[1] to the head; a push fills the first free place after it
		if (pop)  q[0] <= q[1];
		if (push) begin
			if (count - 2'(pop) == 2'd0)  q[0] <= res;
			else  q[1] <= res;
		end
	end

	assign	out_tvalid = count != 0;
	assign	out_tdata = q[0];

endmodule : pool_rtl
